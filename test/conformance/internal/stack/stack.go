// Package stack builds the system the conformance suite is tested against: an
// authorization server (provider with dynamic client registration) and an MCP endpoint
// (a go-sdk streamable HTTP server behind the bearer middleware, with its protected
// resource metadata) on one loopback server, plus a second MCP server of the same
// authorization server. The suite's tests, the command's tests and the test server for
// the official conformance package all start it through Start.
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
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
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
	// OtherURL is the second MCP server's endpoint (another origin, same authorization
	// server).
	OtherURL string
	// Provider is the authorization server.
	Provider *provider.Provider
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

// Start starts the stack on store.
func Start(store provider.Storage, opts Options) (*Stack, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	main := httptest.NewUnstartedServer(nil)
	if opts.Listener != nil {
		_ = main.Listener.Close()
		main.Listener = opts.Listener
	}
	other := httptest.NewUnstartedServer(nil)
	base := "http://" + main.Listener.Addr().String()
	st := &Stack{Issuer: base + "/oauth", MCPURL: base + "/mcp", OtherURL: "http://" + other.Listener.Addr().String() + "/mcp"}

	reg, err := mcp.NewRegistry(mcp.Resource{URL: st.MCPURL, Name: "conformance MCP server", Scopes: []string{"mcp:tools", "mcp:admin"}})
	if err != nil {
		return nil, err
	}
	regHandler, err := registration.NewHandler(store, registration.Options{
		Endpoint: st.Issuer + "/register", SupportedScopes: reg.Scopes(), Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	cfg := provider.Config{
		Issuer:       st.Issuer,
		Storage:      store,
		GlobalSecret: []byte("conformance-global-secret-0123456789abcdef"),
		Scopes:       reg.Scopes(),
		Resources:    []string{st.MCPURL, st.OtherURL},
		EditMetadata: func(m *provider.AuthorizationServerMetadata) { m.RegistrationEndpoint = regHandler.Endpoint() },
		Logger:       logger,
	}
	if opts.FormLogin {
		cfg.Authenticator = provider.AuthenticatorFunc(func(_ context.Context, user, pass string) (string, error) {
			if user == User && pass == Password {
				return "user-" + user, nil
			}
			return "", errors.New("wrong credentials")
		})
	} else {
		cfg.AutoApprove = func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "user-" + User, true }
	}
	if st.Provider, err = provider.New(cfg); err != nil {
		return nil, err
	}

	server := sdk.NewServer(&sdk.Implementation{Name: "conformance", Version: "1.0.0"}, nil)
	st.MCP = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server },
		&sdk.StreamableHTTPOptions{SessionTimeout: time.Minute, Logger: logger})

	mux := http.NewServeMux()
	st.Provider.Register(mux)
	mux.Handle("/oauth/register", regHandler)
	mux.Handle("/oauth/register/", regHandler)
	prm, err := mcp.NewMetadataHandler(st.Issuer, reg, nil)
	if err != nil {
		return nil, err
	}
	mux.Handle(mcp.WellKnownPath, prm)
	mux.Handle(mcp.WellKnownPath+"/", prm)
	mux.Handle("/mcp", mcp.RequireBearer(st.Provider, mcp.BearerOptions{Resource: st.MCPURL, Scopes: []string{"mcp:tools"}, Logger: logger})(st.MCP))
	var h http.Handler = mux
	if opts.Wrap != nil {
		h = opts.Wrap(h, st)
	}
	main.Config.Handler = h

	otherReg, err := mcp.NewRegistry(mcp.Resource{URL: st.OtherURL, Name: "another MCP server"})
	if err != nil {
		return nil, err
	}
	otherPRM, err := mcp.NewMetadataHandler(st.Issuer, otherReg, nil)
	if err != nil {
		return nil, err
	}
	omux := http.NewServeMux()
	omux.Handle(mcp.WellKnownPath, otherPRM)
	omux.Handle(mcp.WellKnownPath+"/", otherPRM)
	omux.Handle("/mcp", mcp.RequireBearer(st.Provider, mcp.BearerOptions{Resource: st.OtherURL, Logger: logger})(st.MCP))
	other.Config.Handler = omux

	main.Start()
	other.Start()
	st.servers = []*httptest.Server{main, other}
	return st, nil
}
