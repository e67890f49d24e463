package conformance_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// Test user of the built-in login page.
const (
	testUser     = "alice"
	testPassword = "conformance-password"
)

// stackOptions vary the system under test.
type stackOptions struct {
	// wrap, when set, wraps the whole handler of the main server (authorization server
	// and MCP endpoint): the deliberately broken servers are such wrappers.
	wrap func(h http.Handler, s *stack) http.Handler
	// formLogin replaces auto-approval with the built-in login page.
	formLogin bool
}

// stack is the system under test: one loopback server with the authorization server
// (provider, dynamic client registration) and an MCP endpoint (go-sdk streamable HTTP)
// behind the bearer middleware with its protected resource metadata, plus a second MCP
// server of the same authorization server (Target.OtherResource).
type stack struct {
	Issuer, MCPURL, OtherURL string
	// MCP is the unguarded MCP handler (for doubles that bypass the guard).
	MCP http.Handler
}

// newStack starts the stack on store s. The lead will switch this to the demo server.
func newStack(t *testing.T, s *gormstore.Store, opts stackOptions) *stack {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	main := httptest.NewUnstartedServer(nil)
	other := httptest.NewUnstartedServer(nil)
	base := "http://" + main.Listener.Addr().String()
	st := &stack{Issuer: base + "/oauth", MCPURL: base + "/mcp", OtherURL: "http://" + other.Listener.Addr().String() + "/mcp"}

	res := mcp.Resource{URL: st.MCPURL, Name: "conformance MCP server", Scopes: []string{"mcp:tools", "mcp:admin"}}
	reg, err := mcp.NewRegistry(res)
	if err != nil {
		t.Fatal(err)
	}
	regHandler, err := registration.NewHandler(s, registration.Options{
		Endpoint: st.Issuer + "/register", SupportedScopes: reg.Scopes(), Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := provider.Config{
		Issuer:       st.Issuer,
		Storage:      s,
		GlobalSecret: []byte("conformance-global-secret-0123456789abcdef"),
		Scopes:       reg.Scopes(),
		Resources:    []string{st.MCPURL, st.OtherURL},
		EditMetadata: func(m *provider.AuthorizationServerMetadata) { m.RegistrationEndpoint = regHandler.Endpoint() },
		Logger:       logger,
	}
	if opts.formLogin {
		cfg.Authenticator = provider.AuthenticatorFunc(func(_ context.Context, user, pass string) (string, error) {
			if user == testUser && pass == testPassword {
				return "user-" + user, nil
			}
			return "", errors.New("wrong credentials")
		})
	} else {
		cfg.AutoApprove = func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "user-" + testUser, true }
	}
	p, err := provider.New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	server := sdk.NewServer(&sdk.Implementation{Name: "conformance", Version: "1.0.0"}, nil)
	st.MCP = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server },
		&sdk.StreamableHTTPOptions{SessionTimeout: time.Minute, Logger: logger})

	mux := http.NewServeMux()
	p.Register(mux)
	mux.Handle("/oauth/register", regHandler)
	mux.Handle("/oauth/register/", regHandler)
	prm, err := mcp.NewMetadataHandler(st.Issuer, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(mcp.WellKnownPath, prm)
	mux.Handle(mcp.WellKnownPath+"/", prm)
	mux.Handle("/mcp", mcp.RequireBearer(p, mcp.BearerOptions{Resource: st.MCPURL, Scopes: []string{"mcp:tools"}, Logger: logger})(st.MCP))
	var h http.Handler = mux
	if opts.wrap != nil {
		h = opts.wrap(h, st)
	}
	main.Config.Handler = h
	main.Start()
	t.Cleanup(main.Close)

	otherReg, err := mcp.NewRegistry(mcp.Resource{URL: st.OtherURL, Name: "another MCP server"})
	if err != nil {
		t.Fatal(err)
	}
	otherPRM, err := mcp.NewMetadataHandler(st.Issuer, otherReg, nil)
	if err != nil {
		t.Fatal(err)
	}
	omux := http.NewServeMux()
	omux.Handle(mcp.WellKnownPath, otherPRM)
	omux.Handle(mcp.WellKnownPath+"/", otherPRM)
	omux.Handle("/mcp", mcp.RequireBearer(p, mcp.BearerOptions{Resource: st.OtherURL, Logger: logger})(st.MCP))
	other.Config.Handler = omux
	other.Start()
	t.Cleanup(other.Close)
	return st
}
