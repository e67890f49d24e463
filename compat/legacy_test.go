package compat_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	mcpgo "github.com/mark3labs/mcp-go/client/transport"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// LegacyEndpoints, a 2025-03-26 client as the TypeScript SDK's fallback implements it
// (auth.ts: no protected resource metadata → the MCP server URL is the authorization
// server; buildDiscoveryUrls tries /.well-known/oauth-authorization-server/mcp, then the
// root /.well-known/oauth-authorization-server; without metadata, /register, /authorize
// and /token at the origin; no `resource`). The issuer here is {origin}/oauth. On, the
// root metadata and the default paths work and the login completes; off, 404.
func TestLegacyEndpoints_TypeScriptSDKFallback(t *testing.T) {
	modes(t, func(o *compat.Options) { o.LegacyEndpoints = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		if resp, _ := s.http.Get(s.Base + "/.well-known/oauth-authorization-server/mcp"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("path-aware metadata of the MCP URL: %d, want 404", resp.StatusCode)
		}
		resp, err := s.http.Get(s.Base + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !on {
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("root metadata, shim off: %d, want 404", resp.StatusCode)
			}
			for _, p := range []string{"/authorize", "/token", "/register"} {
				if r, _ := s.http.Post(s.Base+p, "application/json", strings.NewReader("{}")); r.StatusCode != http.StatusNotFound {
					t.Errorf("%s, shim off: %d, want 404", p, r.StatusCode)
				}
			}
			return
		}
		var meta provider.AuthorizationServerMetadata
		getJSON(t, s, s.Base+"/.well-known/oauth-authorization-server", &meta)
		if meta.Issuer != s.Issuer || meta.AuthorizationEndpoint != s.Issuer+"/authorize" || meta.RegistrationEndpoint != s.Issuer+"/register" {
			t.Errorf("root metadata %+v; want the issuer's document unchanged", meta)
		}
		// Without metadata: the default paths at the origin.
		status, reg := s.register(testdata(t, "inspector.register.json"), s.Base+"/register")
		if status != http.StatusCreated {
			t.Fatalf("POST /register: %d %+v", status, reg)
		}
		redirect := "http://localhost:6274/oauth/callback"
		verifier, challenge := pkce()
		got := redirectQuery(t, s.authorizeAt(s.Base+"/authorize", url.Values{"response_type": {"code"}, "client_id": {reg.ClientID},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "redirect_uri": {redirect}}))
		if got.Get("code") == "" {
			t.Fatalf("GET /authorize: %v", got)
		}
		status, tok := s.token(url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "code_verifier": {verifier},
			"redirect_uri": {redirect}, "client_id": {reg.ClientID}}, s.Base+"/token")
		if status != http.StatusOK {
			t.Fatalf("POST /token: %d %+v", status, tok)
		}
		if status, who := s.call(tok.AccessToken); status != http.StatusOK || !equalStrings(who.Audience, s.MCPURL) || !equalStrings(who.Scopes, scopeRead) {
			t.Errorf("MCP call %d %+v", status, who)
		}
	})
}

// LegacyEndpoints with mcp-go's own client (v1.2.1) in front of an MCP server that does
// not serve protected resource metadata: fetchServerMetadata then tries the path-inserted
// metadata of the server URL and falls back to getDefaultEndpoints: /register, /authorize
// and /token at the origin, without `resource`.
func TestLegacyEndpoints_MCPGoDefaultEndpoints(t *testing.T) {
	hidePRM := func(o *teststack.Options) {
		o.Wrap = func(h http.Handler, _ *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, resourceserver.WellKnownPath) {
					http.NotFound(w, r)
					return
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	modes(t, func(o *compat.Options) { o.LegacyEndpoints = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts, hidePRM)
		ctx := context.Background()
		tokens := mcpgo.NewMemoryTokenStore()
		h := mcpgo.NewOAuthHandler(mcpgo.OAuthConfig{RedirectURI: "http://localhost:8085/oauth/callback", PKCEEnabled: true,
			TokenStore: tokens, HTTPClient: s.http})
		h.SetBaseURL(s.MCPURL)
		err := h.RegisterClient(ctx, "mcp-go")
		if !on {
			if err == nil {
				t.Error("registration at the origin's /register succeeded without the shim")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		verifier, _ := mcpgo.GenerateCodeVerifier()
		state, _ := mcpgo.GenerateState()
		authURL, err := h.GetAuthorizationURL(ctx, state, mcpgo.GenerateCodeChallenge(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(authURL, s.Base+"/authorize?") {
			t.Fatalf("mcp-go did not fall back to the default endpoints: %s", authURL)
		}
		got := redirectQuery(t, s.authorizeAt(s.Base+"/authorize", mustQuery(t, authURL)))
		if err := h.ProcessAuthorizationResponse(ctx, got.Get("code"), got.Get("state"), verifier); err != nil {
			t.Fatal(err)
		}
		tok, _ := tokens.GetToken(ctx)
		if status, who := s.call(tok.AccessToken); status != http.StatusOK || !equalStrings(who.Audience, s.MCPURL) {
			t.Errorf("MCP call %d %+v", status, who)
		}
	})
}
