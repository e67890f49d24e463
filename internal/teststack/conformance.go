package teststack

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

// Test user of the conformance stack's built-in login page (ConformanceOptions.FormLogin).
const (
	ConformanceUser     = "alice"
	ConformancePassword = "conformance-password"
)

// ConformanceOptions vary the conformance stack (Conformance).
type ConformanceOptions struct {
	// Wrap is Options.Wrap: the deliberately broken servers of the conformance tests.
	Wrap func(h http.Handler, st *Stack) http.Handler
	// FormLogin replaces auto-approval with the built-in login and consent page
	// (ConformanceUser, ConformancePassword).
	FormLogin bool
	// OtherResource adds a second MCP server of the same authorization server, on
	// another origin (Stack.OtherURL).
	OtherResource bool
	// JWTAccessTokens is Options.JWTAccessTokens. Default opaque tokens.
	JWTAccessTokens *mcp.JWTAccessTokens
	// DeviceCodeLifespan is how long device codes live (the device grant is always on).
	// Default provider.DefaultDeviceCodeLifespan.
	DeviceCodeLifespan time.Duration
	// ClientKeySets is Options.ClientKeySets. Default public hosts only.
	ClientKeySets *jwtaccess.RemoteKeySetsConfig
	// Listener is Options.Listener. Default a fresh loopback port.
	Listener net.Listener
	// Logger is Options.Logger. Default: discarded.
	Logger *slog.Logger
}

// Conformance returns the Options of the system the conformance suite
// (test/conformance) is tested against, on store: mcp.New with the default
// compatibility shims, open dynamic client registration, client ID metadata documents
// with the package defaults (public document hosts only), the device authorization
// grant, client_credentials (for static clients created with it, such as
// private_key_jwt ones), no rate limits (the suite sends hundreds of requests from one
// address within seconds), and a go-sdk MCP server at {origin}/mcp requiring mcp:tools
// (Stack.Handler); with c.OtherResource a second one on another origin.
func Conformance(store provider.Storage, c ConformanceOptions) Options {
	resources := []resourceserver.Resource{{URL: Origin + "/mcp", Name: "conformance MCP server",
		Scopes: []string{"mcp:tools", "mcp:admin"}, DefaultScopes: []string{"mcp:tools"}}}
	if c.OtherResource {
		resources = append(resources, resourceserver.Resource{URL: OtherOrigin + "/mcp", Name: "another MCP server", Scopes: []string{"mcp:tools"}})
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	server := sdk.NewServer(&sdk.Implementation{Name: "conformance", Version: "1.0.0"}, nil)
	opts := Options{
		Store:     store,
		Resources: resources,
		Subject:   "user-" + ConformanceUser,
		Provider: func(cfg *provider.Config) {
			// The device grant (RFC 8628) at {issuer}/device_authorization and the
			// built-in verification page {issuer}/device.
			cfg.DeviceAuthorization = &provider.DeviceAuthorizationOptions{Lifespan: c.DeviceCodeLifespan}
			// client_credentials for the operator's machine-to-machine clients
			// (private_key_jwt, the suite's PKJWT checks).
			cfg.EnableClientCredentials = true
		},
		ClientKeySets:             c.ClientKeySets,
		ClientIDMetadataDocuments: &mcp.ClientIDMetadataDocuments{Enabled: true, Options: cimd.Options{Logger: logger}},
		JWTAccessTokens:           c.JWTAccessTokens,
		RateLimits:                &mcp.RateLimits{Disabled: true},
		Handler: sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server },
			&sdk.StreamableHTTPOptions{SessionTimeout: time.Minute, Logger: logger}),
		RequireDefaultScopes: true,
		Wrap:                 c.Wrap,
		Listener:             c.Listener,
		Logger:               logger,
	}
	if c.FormLogin {
		opts.Authenticator = provider.AuthenticatorFunc(func(_ context.Context, user, pass string) (string, error) {
			if user == ConformanceUser && pass == ConformancePassword {
				return "user-" + user, nil
			}
			return "", errors.New("wrong credentials")
		})
	}
	return opts
}
