// Package stack builds the system the conformance suite is tested against: an MCP
// authorization server made with mcp.New (provider, dynamic client registration, client
// ID metadata documents, protected resource metadata, compatibility shims) in front of a go-sdk MCP server
// behind the bearer middleware, on one loopback server, optionally with a second MCP
// server of the same authorization server on another origin. The suite's tests, the
// command's tests and the test server for the official conformance package all start it
// through Start.
package stack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

// Test user of the built-in login page (Options.FormLogin).
const (
	User     = "alice"
	Password = "conformance-password"
)

// Options vary the stack.
type Options struct {
	// Wrap, when set, wraps the whole handler of the main server (authorization server
	// and MCP endpoint): the deliberately broken servers of the tests are such wrappers.
	Wrap func(h http.Handler, s *Stack) http.Handler
	// FormLogin replaces auto-approval with the built-in login and consent page (User,
	// Password).
	FormLogin bool
	// OtherResource adds a second MCP server of the same authorization server, on
	// another origin (Stack.OtherURL).
	OtherResource bool
	// JWTAccessTokens, when set, issues RFC 9068 JWT access tokens
	// (mcp.Config.JWTAccessTokens) instead of opaque ones.
	JWTAccessTokens *mcp.JWTAccessTokens
	// DeviceCodeLifespan is how long device codes live (the device grant is always on).
	// Default provider.DefaultDeviceCodeLifespan.
	DeviceCodeLifespan time.Duration
	// ClientKeySets is mcp.Config.ClientKeySets: how the keys of private_key_jwt clients
	// with a jwks_uri are fetched. Tests serving key sets on loopback set AllowAddress
	// and RootCAs. Nil means the defaults (public hosts only).
	ClientKeySets *jwtaccess.RemoteKeySetsConfig
	// Listener, when set, is where the main server listens. Default a fresh loopback
	// port.
	Listener net.Listener
	// Logger receives the servers' logs. Default: discard.
	Logger *slog.Logger
}

// Stack is a running system under test.
type Stack struct {
	// Issuer is the authorization server's issuer, {base}/oauth.
	Issuer string
	// MCPURL is the MCP endpoint, {base}/mcp; it requires the scope mcp:tools.
	MCPURL string
	// OtherURL is the second MCP server's endpoint (Options.OtherResource); empty
	// without it.
	OtherURL string
	// Server is the MCP authorization server (mcp.New).
	Server *mcp.Server
	// MCP is the MCP handler without its guard (for doubles that bypass the guard).
	MCP http.Handler

	servers []*httptest.Server
}

// Close stops the servers.
func (s *Stack) Close() {
	for _, srv := range s.servers {
		srv.Close()
	}
}

// Start starts the stack on store: mcp.New with the default compatibility shims, open
// dynamic client registration, client ID metadata documents with the package defaults
// (public document hosts only), the device authorization grant, client_credentials (for
// static clients created with it, such as private_key_jwt ones), and a go-sdk MCP server
// at /mcp requiring mcp:tools. ctx is used while starting (mcp.New); on an error every
// listener it opened (and opts.Listener) is closed.
func Start(ctx context.Context, store provider.Storage, opts Options) (st *Stack, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	main := httptest.NewUnstartedServer(nil)
	if opts.Listener != nil {
		_ = main.Listener.Close()
		main.Listener = opts.Listener
	}
	var other *httptest.Server
	defer func() {
		if err != nil { // the servers are not started yet: close their listeners
			_ = main.Listener.Close()
			if other != nil {
				_ = other.Listener.Close()
			}
		}
	}()
	base := "http://" + main.Listener.Addr().String()
	st = &Stack{Issuer: base + "/oauth", MCPURL: base + "/mcp"}
	resources := []resourceserver.Resource{{URL: st.MCPURL, Name: "conformance MCP server", Scopes: []string{"mcp:tools", "mcp:admin"}, DefaultScopes: []string{"mcp:tools"}}}
	if opts.OtherResource {
		other = httptest.NewUnstartedServer(nil)
		st.OtherURL = "http://" + other.Listener.Addr().String() + "/mcp"
		resources = append(resources, resourceserver.Resource{URL: st.OtherURL, Name: "another MCP server", Scopes: []string{"mcp:tools"}})
	}
	cfg := mcp.Config{
		Provider: provider.Config{
			Issuer:       st.Issuer,
			Storage:      store,
			GlobalSecret: []byte("conformance-global-secret-0123456789abcdef"),
			// The device grant (RFC 8628) at {issuer}/device_authorization and the
			// built-in verification page {issuer}/device.
			DeviceAuthorization: &provider.DeviceAuthorizationOptions{Lifespan: opts.DeviceCodeLifespan},
			// client_credentials for the operator's machine-to-machine clients
			// (private_key_jwt, the suite's PKJWT checks).
			EnableClientCredentials: true,
		},
		ClientKeySets:             opts.ClientKeySets,
		Resources:                 resources,
		ClientIDMetadataDocuments: &mcp.ClientIDMetadataDocuments{Enabled: true, Options: cimd.Options{Logger: logger}},
		JWTAccessTokens:           opts.JWTAccessTokens,
		// The suite sends hundreds of requests from one address within seconds, far
		// beyond the default per-address limits (mcp.RateLimits); their tests are in
		// package mcp.
		RateLimits: &mcp.RateLimits{Disabled: true},
		Logger:     logger,
	}
	if opts.FormLogin {
		cfg.Provider.Authenticator = provider.AuthenticatorFunc(func(_ context.Context, user, pass string) (string, error) {
			if user == User && pass == Password {
				return "user-" + user, nil
			}
			return "", errors.New("wrong credentials")
		})
	} else {
		cfg.Provider.AutoApprove = func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "user-" + User, true }
	}
	if st.Server, err = mcp.New(ctx, cfg); err != nil {
		return nil, err
	}

	server := sdk.NewServer(&sdk.Implementation{Name: "conformance", Version: "1.0.0"}, nil)
	st.MCP = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server },
		&sdk.StreamableHTTPOptions{SessionTimeout: time.Minute, Logger: logger})

	mux := http.NewServeMux()
	st.Server.Register(mux)
	guarded, err := st.Server.Protect(st.MCPURL, st.MCP, "mcp:tools")
	if err != nil {
		return nil, err
	}
	mux.Handle("/mcp", guarded)
	var h http.Handler = mux
	if opts.Wrap != nil {
		h = opts.Wrap(h, st)
	}
	main.Config.Handler = h

	if other != nil {
		omux := http.NewServeMux()
		prm := st.Server.ProtectedResourceMetadata()
		omux.Handle(resourceserver.WellKnownPath, prm)
		omux.Handle(resourceserver.WellKnownPath+"/", prm)
		guardedOther, err := st.Server.Protect(st.OtherURL, st.MCP)
		if err != nil {
			return nil, err
		}
		omux.Handle("/mcp", guardedOther)
		other.Config.Handler = omux
		other.Start()
		st.servers = append(st.servers, other)
	}
	main.Start()
	st.servers = append(st.servers, main)
	return st, nil
}
