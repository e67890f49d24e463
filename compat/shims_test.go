package compat_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/client/transport"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Default switches every shim on, Strict none, each shim is one field, and the README
// table names every one of them.
func TestPresets(t *testing.T) {
	def, strict := reflect.ValueOf(compat.Default()), reflect.ValueOf(compat.Strict())
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	typ := def.Type()
	if typ.NumField() != 13 {
		t.Errorf("%d shims, want the 12 of issue 4 and DotlessClientSchemes of issue 14 (update README.md and the tests)", typ.NumField())
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if def.Field(i).IsZero() {
			t.Errorf("Default: %s is off", f.Name)
		}
		if !strict.Field(i).IsZero() {
			t.Errorf("Strict: %s is on", f.Name)
		}
		if !strings.Contains(string(readme), "`"+f.Name+"`") {
			t.Errorf("README.md does not list %s", f.Name)
		}
	}
	if g := compat.Default().RefreshGrace; g.Window != 30*time.Second || g.MaxReuses != 2 {
		t.Errorf("Default RefreshGrace = %+v, want 30 s and 2 reuses", g)
	}
}

// DefaultScopes, Claude Code and ChatGPT: they register and authorize without `scope`.
// On, the token carries the resource's default scope (through the real HTTP handlers, not
// just the hook); off, RFC 6749 §3.3's other branch: invalid_scope to the client.
func TestDefaultScopes_ClaudeCodeAndChatGPT(t *testing.T) {
	modes(t, func(o *compat.Options) { o.DefaultScopes = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		for _, c := range []struct{ file, redirect string }{
			{"claude-code.register.json", "http://localhost:49152/callback"},
			{"chatgpt.register.json", "https://chatgpt.com/connector_platform_oauth_redirect"},
		} {
			reg := s.mustRegister(testdata(t, c.file))
			verifier, challenge := pkce()
			q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {c.redirect},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {oauth2.GenerateVerifier()},
				"resource": {s.MCPURL}}
			if !on {
				// ChatGPT's web redirect URI was registered by anyone (open DCR): the error
				// is shown on the server's page with a link back (RFC 9700 §4.11.2) instead
				// of an automatic redirect; loopback URIs get the redirect.
				resp := s.authorizeAt(s.Issuer+"/authorize", q)
				if strings.HasPrefix(c.redirect, "https://") {
					if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
						t.Errorf("%s without scope, shim off: %d %q; want an error page", c.file, resp.StatusCode, resp.Header.Get("Location"))
					}
					continue
				}
				if got := redirectQuery(t, resp); got.Get("error") != "invalid_scope" || got.Get("iss") != s.Issuer {
					t.Errorf("%s without scope, shim off: %v; want invalid_scope with iss", c.file, got)
				}
				continue
			}
			got := s.authorize(q)
			tok := s.mustToken(url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "code_verifier": {verifier},
				"redirect_uri": {c.redirect}, "client_id": {reg.ClientID}, "resource": {s.MCPURL}})
			if tok.Scope != scopeRead {
				t.Errorf("%s: token scope %q, want the default %q", c.file, tok.Scope, scopeRead)
			}
			if status, who := s.call(tok.AccessToken); status != http.StatusOK || !equalStrings(who.Scopes, scopeRead) {
				t.Errorf("%s: MCP call %d %+v", c.file, status, who)
			}
		}
	})
}

// DefaultScopes with mcp-go's own OAuth client (v1.2.1) configured without scopes: its
// authorization URL carries no scope parameter.
func TestDefaultScopes_MCPGoWithoutScopes(t *testing.T) {
	modes(t, func(o *compat.Options) { o.DefaultScopes = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		ctx := context.Background()
		store2 := mcpgo.NewMemoryTokenStore()
		h := mcpgo.NewOAuthHandler(mcpgo.OAuthConfig{RedirectURI: "http://localhost:8085/oauth/callback", PKCEEnabled: true,
			TokenStore: store2, HTTPClient: s.http})
		h.SetBaseURL(s.MCPURL)
		if err := h.RegisterClient(ctx, "mcp-go"); err != nil {
			t.Fatal(err)
		}
		verifier, _ := mcpgo.GenerateCodeVerifier()
		state, _ := mcpgo.GenerateState()
		authURL, err := h.GetAuthorizationURL(ctx, state, mcpgo.GenerateCodeChallenge(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := url.Parse(authURL); u.Query().Has("scope") || u.Query().Get("resource") != s.MCPURL {
			t.Fatalf("mcp-go's authorization URL changed: %s", authURL)
		}
		got := redirectQuery(t, s.authorizeAt(authURL[:strings.Index(authURL, "?")], mustQuery(t, authURL)))
		if !on {
			if got.Get("error") != "invalid_scope" {
				t.Errorf("shim off: %v; want invalid_scope", got)
			}
			return
		}
		if err := h.ProcessAuthorizationResponse(ctx, got.Get("code"), got.Get("state"), verifier); err != nil {
			t.Fatal(err)
		}
		tok, _ := store2.GetToken(ctx)
		if tok.Scope != scopeRead {
			t.Errorf("token scope %q, want %q", tok.Scope, scopeRead)
		}
		if status, who := s.call(tok.AccessToken); status != http.StatusOK || !equalStrings(who.Scopes, scopeRead) {
			t.Errorf("MCP call %d %+v", status, who)
		}
	})
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// FilterUnknownScopes, mcp-remote: without scopes from PRM, challenge or metadata it
// registers and authorizes with "openid email profile". On, the unknown scopes are
// dropped (registration gets the supported scopes, the login the default scope); off,
// registration is invalid_client_metadata and authorization invalid_scope.
func TestFilterUnknownScopes_MCPRemote(t *testing.T) {
	modes(t, func(o *compat.Options) { o.FilterUnknownScopes = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		body := testdata(t, "mcp-remote.register.json")
		status, reg := s.register(body)
		if on && (status != http.StatusCreated || reg.Scope != strings.Join([]string{scopeRead, scopeWrite, scopeAdmin}, " ")) {
			t.Errorf("registration, shim on: %d %+v", status, reg)
		}
		if !on && (status != http.StatusBadRequest || reg.Error != "invalid_client_metadata") {
			t.Errorf("registration, shim off: %d %+v; want invalid_client_metadata", status, reg)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		delete(m, "scope")
		noScope, _ := json.Marshal(m)
		reg = s.mustRegister(string(noScope))

		redirect := "http://localhost:3334/oauth/callback"
		_, challenge := pkce()
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "code_challenge": {challenge},
			"code_challenge_method": {"S256"}, "redirect_uri": {redirect}, "state": {"6f1c4a0e-5b7d-4c36-9d4e-2a9b0f3e8c11"},
			"resource": {s.MCPURL}, "scope": {"openid email profile"}}
		got := s.authorize(q)
		switch {
		case on && got.Get("code") == "":
			t.Errorf("shim on: %v; want a code", got)
		case !on && got.Get("error") != "invalid_scope":
			t.Errorf("shim off: %v; want invalid_scope", got)
		}
		if on {
			tok := s.login(reg.ClientID, redirect, url.Values{"scope": {"openid email profile " + scopeWrite}, "resource": {s.MCPURL}}, nil)
			if tok.Scope != scopeWrite {
				t.Errorf("known scopes next to unknown ones: granted %q, want %q", tok.Scope, scopeWrite)
			}
		}
	})
}

// DefaultResource: the TypeScript SDK sends no `resource` when it found no protected
// resource metadata, nor do 2025-03-26 clients. On, the single resource is bound; off,
// invalid_target at the authorization endpoint, and at the token endpoint (before the
// code is consumed, so the same code then works with `resource`).
func TestDefaultResource_NoResourceParameter(t *testing.T) {
	modes(t, func(o *compat.Options) { o.DefaultResource = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		reg := s.mustRegister(testdata(t, "inspector.register.json"))
		redirect := "http://localhost:6274/oauth/callback"
		verifier, challenge := pkce()
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "code_challenge": {challenge},
			"code_challenge_method": {"S256"}, "redirect_uri": {redirect}, "scope": {scopeRead}, "state": {"st-0123456789"}}
		got := s.authorize(q)
		if !on {
			if got.Get("error") != "invalid_target" {
				t.Errorf("authorization without resource, shim off: %v; want invalid_target", got)
			}
			// The token endpoint requires it too.
			code := s.authorize(with(q, "resource", s.MCPURL))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code.Get("code")}, "code_verifier": {verifier},
				"redirect_uri": {redirect}, "client_id": {reg.ClientID}}
			if status, tr := s.token(form); status != http.StatusBadRequest || tr.Error != "invalid_target" {
				t.Errorf("code exchange without resource, shim off: %d %+v; want invalid_target", status, tr)
			}
			s.mustToken(with(form, "resource", s.MCPURL))
			return
		}
		tok := s.mustToken(url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "code_verifier": {verifier},
			"redirect_uri": {redirect}, "client_id": {reg.ClientID}})
		if status, who := s.call(tok.AccessToken); status != http.StatusOK || !equalStrings(who.Audience, s.MCPURL) {
			t.Errorf("MCP call %d, audience %v; want %s", status, who.Audience, s.MCPURL)
		}
	})
}

// DefaultResource with several resources: none named means invalid_target even with the
// shim (never a token without audience); mcp.Config.DefaultResource names the one to bind.
func TestDefaultResource_SeveralResources(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		two := func(named bool) option {
			return func(o *teststack.Options) {
				o.Resources = append(o.Resources, resourceserver.Resource{URL: teststack.Origin + "/other", Scopes: []string{scopeRead}})
				if named {
					o.MCP = func(st *teststack.Stack, cfg *mcp.Config) { cfg.DefaultResource = st.Base + "/other" }
				}
			}
		}
		for _, named := range []bool{false, true} {
			s := newStack(t, store, compat.Default(), two(named))
			reg := s.mustRegister(testdata(t, "inspector.register.json"))
			_, challenge := pkce()
			got := s.authorize(url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "code_challenge": {challenge},
				"code_challenge_method": {"S256"}, "redirect_uri": {"http://localhost:6274/oauth/callback"}, "scope": {scopeRead}})
			if !named {
				if got.Get("error") != "invalid_target" {
					t.Errorf("several resources, none named: %v; want invalid_target", got)
				}
				continue
			}
			tok := s.login(reg.ClientID, "http://localhost:6274/oauth/callback", url.Values{"scope": {scopeRead}}, nil)
			if status, who := s.call(tok.AccessToken, s.Base+"/other"); status != http.StatusOK || !equalStrings(who.Audience, s.Base+"/other") {
				t.Errorf("named default: call %d, audience %v", status, who.Audience)
			}
		}
	})
	s := gormtest.Open(t, gormtest.SQLite)
	_, err := mcp.New(t.Context(), mcp.Config{Provider: provider.Config{Issuer: "https://as.example", Storage: s, GlobalSecret: make([]byte, 32),
		AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "", false }},
		Resources: []resourceserver.Resource{{URL: "https://mcp.example/mcp"}}, DefaultResource: "https://elsewhere.example/mcp"})
	if err == nil {
		t.Error("a DefaultResource that is not a resource was accepted")
	}
}

func with(q url.Values, k, v string) url.Values {
	c := url.Values{}
	for key, vs := range q {
		c[key] = append([]string(nil), vs...)
	}
	c.Set(k, v)
	return c
}

// RefreshWithoutResource, go-sdk: auth.AuthorizationCodeHandler refreshes through the
// golang.org/x/oauth2 token source (public client: client_id in the body), which sends no
// `resource`. On, the grant's audience is kept; off, invalid_target, and the refresh token
// is not rotated (a retry with `resource` works).
func TestRefreshWithoutResource_GoSDK(t *testing.T) {
	modes(t, func(o *compat.Options) { o.RefreshWithoutResource = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		reg := s.mustRegister(`{"redirect_uris":["http://localhost:8976/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"go-sdk client","application_type":"native"}`)
		tok := s.login(reg.ClientID, "http://localhost:8976/callback",
			url.Values{"scope": {scopeRead}, "state": {"KGLLSVEQBDVPXYTUNZ5ZIWEJQA"}, "resource": {s.MCPURL}}, url.Values{"resource": {s.MCPURL}})
		cfg := &oauth2.Config{ClientID: reg.ClientID, Endpoint: oauth2.Endpoint{TokenURL: s.Issuer + "/token", AuthStyle: oauth2.AuthStyleInParams}}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.http)
		fresh, err := cfg.TokenSource(ctx, &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
		if !on {
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_target" {
				t.Fatalf("go-sdk refresh, shim off: %v; want invalid_target", err)
			}
			s.mustToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {reg.ClientID}, "resource": {s.MCPURL}})
			return
		}
		if err != nil {
			t.Fatalf("go-sdk refresh: %v", err)
		}
		if status, who := s.call(fresh.AccessToken); status != http.StatusOK || !equalStrings(who.Audience, s.MCPURL) {
			t.Errorf("refreshed token: call %d, audience %v", status, who.Audience)
		}
	})
}

// LenientResourceMatch. TypeScript SDK: it sends the protected resource metadata's
// `resource` as a URL, and new URL("http://h").href is "http://h/": for an MCP server at
// the origin, a trailing slash the configured resource does not have. mcp-go: it accepts
// PRM whose resource is a path prefix of its server URL (resourceBindsToURL) and sends
// that. On, both map to the configured resource at every endpoint; off, invalid_target.
// Case and default port are RFC 3986 normalisation in both modes; another origin never
// matches.
func TestLenientResourceMatch_TypeScriptSDKAndMCPGo(t *testing.T) {
	modes(t, func(o *compat.Options) { o.LenientResourceMatch = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		// An MCP server at the origin: PRM resource "http://127.0.0.1:port".
		s := newStack(t, store, opts, func(o *teststack.Options) { o.Resources[0].URL = teststack.Origin })
		reg := s.mustRegister(testdata(t, "inspector.register.json"))
		redirect := "http://localhost:6274/oauth/callback"
		tsResource := s.Base + "/"
		_, challenge := pkce()
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "code_challenge": {challenge},
			"code_challenge_method": {"S256"}, "redirect_uri": {redirect}, "scope": {scopeRead}, "resource": {tsResource}}
		if got := s.authorize(q); on != (got.Get("code") != "") || !on && got.Get("error") != "invalid_target" {
			t.Errorf("TypeScript SDK resource %s: %v (shim on: %v)", tsResource, got, on)
		}
		if on {
			tok := s.login(reg.ClientID, redirect, url.Values{"scope": {scopeRead}, "resource": {tsResource}}, url.Values{"resource": {tsResource}})
			if status, who := s.call(tok.AccessToken, s.Base+"/"); status != http.StatusOK || !equalStrings(who.Audience, s.Base) {
				t.Errorf("call %d, audience %v", status, who.Audience)
			}
			if status, tr := s.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
				"client_id": {reg.ClientID}, "resource": {tsResource}}); status != http.StatusOK {
				t.Errorf("refresh with %s: %d %+v", tsResource, status, tr)
			}
		}

		// An MCP server at /mcp whose PRM names the origin: mcp-go sends the origin.
		s2 := newStack(t, store, opts)
		reg2 := s2.mustRegister(testdata(t, "inspector.register.json"))
		for _, c := range []struct {
			resource string
			match    bool // with the shim
			strict   bool // without it
		}{
			{s2.Base, true, false},
			{s2.Base + "/", true, false},
			{s2.MCPURL + "/", true, false},
			{strings.Replace(s2.MCPURL, "http://", "HTTP://", 1), true, true},
			{"http://localhost:" + s2.Base[strings.LastIndex(s2.Base, ":")+1:] + "/mcp", false, false}, // another host name
			{"http://127.0.0.1:1/mcp", false, false},                                                   // another port
			{s2.Base + "/mc", false, false},                                                            // not a segment prefix
		} {
			got := s2.authorize(url.Values{"response_type": {"code"}, "client_id": {reg2.ClientID}, "code_challenge": {challenge},
				"code_challenge_method": {"S256"}, "redirect_uri": {redirect}, "scope": {scopeRead}, "resource": {c.resource}})
			want := c.strict || on && c.match
			if (got.Get("code") != "") != want || !want && got.Get("error") != "invalid_target" {
				t.Errorf("resource %s (shim on: %v): %v; want accepted=%v", c.resource, on, got, want)
			}
		}
		if on {
			tok := s2.login(reg2.ClientID, redirect, url.Values{"scope": {scopeRead}, "resource": {s2.Base}}, url.Values{"resource": {s2.Base}})
			if status, who := s2.call(tok.AccessToken); status != http.StatusOK || !equalStrings(who.Audience, s2.MCPURL) {
				t.Errorf("origin as resource: call %d, audience %v; want %s", status, who.Audience, s2.MCPURL)
			}
		}
	})
}

// LocalhostAnyPort, Claude Code: registers http://localhost/callback and returns on an
// ephemeral port. On, a code; off, the error page (never a redirect to an unregistered
// URI). Loopback IP literals get any port in both modes (RFC 8252 §7.3).
func TestLocalhostAnyPort_ClaudeCode(t *testing.T) {
	modes(t, func(o *compat.Options) { o.LocalhostAnyPort = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		reg := s.mustRegister(testdata(t, "claude-code.register.json"))
		_, challenge := pkce()
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {"http://localhost:49152/callback"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"claude-state-0123456789"}, "resource": {s.MCPURL}}
		resp := s.authorizeAt(s.Issuer+"/authorize", q)
		if on {
			if got := redirectQuery(t, resp); got.Get("code") == "" {
				t.Errorf("shim on: %v; want a code", got)
			}
		} else if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("shim off: %d %q; want the error page without redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
		ip := s.mustRegister(`{"client_name":"ip","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}`)
		if got := s.authorize(with(with(q, "client_id", ip.ClientID), "redirect_uri", "http://127.0.0.1:49153/callback")); got.Get("code") == "" {
			t.Errorf("loopback IP on another port: %v; want a code in both modes", got)
		}
	})
}

// DotlessClientSchemes, Cursor: it registers cursor://anysphere.cursor-mcp/oauth/callback,
// a private-use scheme that is not a reversed domain name (RFC 8252 §7.1). On, it
// registers and gets its code on that URI, while an authorization error goes through the
// error page's link (no automatic redirect); off, registration answers
// invalid_redirect_uri. The finding's schemes (issue 14 finding 1) are refused in both.
func TestDotlessClientSchemes_Cursor(t *testing.T) {
	modes(t, func(o *compat.Options) { o.DotlessClientSchemes = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts, func(o *teststack.Options) { o.RateLimits = &mcp.RateLimits{Disabled: true} })
		const cb = "cursor://anysphere.cursor-mcp/oauth/callback"
		for _, bad := range []string{"search-ms:?query=x", "ms-appinstaller:?source=https://attacker.example/x", "x-safari-https://attacker.example/cb",
			"ftp://attacker.example/cb", "mailto:/x", "javascript:/x", "vscode:?x"} {
			if status, r := s.register(`{"client_name":"x","redirect_uris":["` + bad + `"],"token_endpoint_auth_method":"none"}`); status != http.StatusBadRequest || r.Error != "invalid_redirect_uri" {
				t.Errorf("%s: %d %+v; want invalid_redirect_uri", bad, status, r)
			}
		}
		status, reg := s.register(testdata(t, "cursor.register.json"))
		if !on {
			if status != http.StatusBadRequest || reg.Error != "invalid_redirect_uri" {
				t.Fatalf("shim off: %d %+v; want invalid_redirect_uri", status, reg)
			}
			return
		}
		if status != http.StatusCreated {
			t.Fatalf("shim on: registration %d %+v", status, reg)
		}
		_, challenge := pkce()
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {cb},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"cursor-state-0123456789"}, "resource": {s.MCPURL}}
		if got := s.authorize(q); got.Get("code") == "" || got.Get("iss") != s.Issuer {
			t.Errorf("shim on: %v; want a code", got)
		}
		resp := s.authorizeAt(s.Issuer+"/authorize", with(q, "code_challenge_method", "plain"))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("error: %d %q; want the error page (a link, not a redirect)", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// RefreshWithoutOfflineAccess, every MCP client (Claude Code here): no offline_access in
// the request. On, a refresh token anyway; off, none unless offline_access is granted,
// which the authorization server metadata then advertises. Protected resource metadata
// never lists offline_access.
func TestRefreshWithoutOfflineAccess(t *testing.T) {
	modes(t, func(o *compat.Options) { o.RefreshWithoutOfflineAccess = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		reg := s.mustRegister(testdata(t, "claude-code.register.json"))
		redirect := "http://localhost:49152/callback"
		tok := s.login(reg.ClientID, redirect, url.Values{"resource": {s.MCPURL}, "state": {"claude-state-0123456789"}}, url.Values{"resource": {s.MCPURL}})
		if (tok.RefreshToken != "") != on {
			t.Errorf("refresh token issued: %v; want %v", tok.RefreshToken != "", on)
		}
		var meta provider.AuthorizationServerMetadata
		getJSON(t, s, s.Base+"/.well-known/oauth-authorization-server/oauth", &meta)
		if slices.Contains(meta.ScopesSupported, provider.OfflineAccessScope) == on {
			t.Errorf("AS metadata scopes_supported %v (offline_access listed only without the shim)", meta.ScopesSupported)
		}
		var prm resourceserver.ProtectedResourceMetadata
		getJSON(t, s, s.Base+"/.well-known/oauth-protected-resource/mcp", &prm)
		if slices.Contains(prm.ScopesSupported, provider.OfflineAccessScope) {
			t.Errorf("PRM lists offline_access: %v", prm.ScopesSupported)
		}
		if !on {
			tok = s.login(reg.ClientID, redirect, url.Values{"resource": {s.MCPURL}, "scope": {scopeRead + " " + provider.OfflineAccessScope},
				"state": {"claude-state-0123456789"}}, url.Values{"resource": {s.MCPURL}})
			if tok.RefreshToken == "" {
				t.Error("offline_access granted but no refresh token")
			}
		}
	})
}

func getJSON(t *testing.T, s *stack, u string, v any) {
	t.Helper()
	resp, err := s.http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// OptionalState, TypeScript SDK: startAuthorization sets state only when the
// OAuthClientProvider implements state(). On, a missing or short state is accepted; off,
// invalid_request to the client's redirect URI.
func TestOptionalState_TypeScriptSDK(t *testing.T) {
	modes(t, func(o *compat.Options) { o.OptionalState = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		reg := s.mustRegister(testdata(t, "inspector.register.json"))
		_, challenge := pkce()
		// auth.ts startAuthorization: response_type, client_id, code_challenge,
		// code_challenge_method, redirect_uri, [state], [scope], [resource].
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "code_challenge": {challenge},
			"code_challenge_method": {"S256"}, "redirect_uri": {"http://localhost:6274/oauth/callback"},
			"scope": {scopeRead}, "resource": {s.MCPURL}}
		for _, state := range []string{"", "abc"} {
			qq := q
			if state != "" {
				qq = with(q, "state", state)
			}
			got := s.authorize(qq)
			if on && (got.Get("code") == "" || got.Get("state") != state) {
				t.Errorf("state %q, shim on: %v; want a code (and the state echoed)", state, got)
			}
			if !on && (got.Get("error") != "invalid_request" || got.Get("state") != state || got.Get("iss") != s.Issuer) {
				t.Errorf("state %q, shim off: %v; want invalid_request", state, got)
			}
		}
	})
}

// LenientRegistration, go-sdk's example client: its DynamicClientRegistrationConfig
// metadata has only client_name, redirect_uris and scope, posted by oauthex.RegisterClient.
// RFC 7591 makes it a confidential client_secret_basic client of the authorization_code
// grant; the shim adds refresh_token, so the client gets refresh tokens. A registration
// without client_name is named after its redirect host.
func TestLenientRegistration_GoSDKExample(t *testing.T) {
	modes(t, func(o *compat.Options) { o.LenientRegistration = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		redirect := "http://localhost:3142"
		reg, err := oauthex.RegisterClient(context.Background(), s.Issuer+"/register", &oauthex.ClientRegistrationMetadata{
			ClientName: "Dynamically registered MCP client", RedirectURIs: []string{redirect}, Scope: "read",
		}, s.http)
		if err != nil {
			t.Fatalf("oauthex.RegisterClient: %v", err)
		}
		wantGrants := []string{"authorization_code"}
		if on {
			wantGrants = append(wantGrants, "refresh_token")
		}
		if !equalStrings(reg.GrantTypes, wantGrants...) || reg.TokenEndpointAuthMethod != provider.AuthMethodClientSecretBasic || reg.ClientSecret == "" {
			t.Fatalf("registered %+v; want grant types %v, client_secret_basic with a secret", reg, wantGrants)
		}
		verifier, challenge := pkce()
		got := s.authorize(url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"ZGVmYXVsdC1zdGF0ZS0wMTIz"},
			"resource": {s.MCPURL}, "scope": {scopeRead}})
		req, _ := http.NewRequest(http.MethodPost, s.Issuer+"/token", strings.NewReader(url.Values{"grant_type": {"authorization_code"},
			"code": {got.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirect}, "resource": {s.MCPURL}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(reg.ClientID), url.QueryEscape(reg.ClientSecret))
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok tokenResponse
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (tok.RefreshToken != "") != on {
			t.Errorf("login: %d, refresh token %v; want one exactly with the shim", resp.StatusCode, tok.RefreshToken != "")
		}

		_, named := s.register(`{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none"}`)
		if want := map[bool]string{true: "app.example.com", false: ""}[on]; named.ClientName != want {
			t.Errorf("client_name %q, want %q", named.ClientName, want)
		}
	})
}

// TokenWithoutRedirectURI, the TypeScript SDK until typescript-sdk#222 (the MCP Inspector
// of early 2025): exchangeAuthorization sent grant_type, code, code_verifier and
// client_id, no redirect_uri, although startAuthorization had sent one. The Inspector
// registers one redirect URI. On, tokens; off, invalid_grant (RFC 6749 §4.1.3).
func TestTokenWithoutRedirectURI_TypeScriptSDK(t *testing.T) {
	modes(t, func(o *compat.Options) { o.TokenWithoutRedirectURI = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		s := newStack(t, store, opts)
		reg := s.mustRegister(testdata(t, "inspector.register.json"))
		verifier, challenge := pkce()
		got := s.authorize(url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "code_challenge": {challenge},
			"code_challenge_method": {"S256"}, "redirect_uri": {"http://localhost:6274/oauth/callback"}, "scope": {scopeRead}})
		status, tok := s.token(url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")},
			"code_verifier": {verifier}, "client_id": {reg.ClientID}})
		if on && status != http.StatusOK {
			t.Errorf("shim on: %d %+v; want tokens", status, tok)
		}
		if !on && (status != http.StatusBadRequest || tok.Error != "invalid_grant") {
			t.Errorf("shim off: %d %+v; want invalid_grant", status, tok)
		}
	})
}

// The DefaultScopes rule: the bound resource's DefaultScopes the client is registered
// for; else the client's registered scopes the resource defines (never offline_access).
func TestDefaultScopes_Rule(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		redirect := "http://localhost:6274/oauth/callback"
		login := func(s *stack, registerScope string) string {
			reg := s.mustRegister(`{"redirect_uris":["` + redirect + `"],"token_endpoint_auth_method":"none",` +
				`"grant_types":["authorization_code","refresh_token"],"scope":"` + registerScope + `"}`)
			return s.login(reg.ClientID, redirect, url.Values{"resource": {s.MCPURL}}, nil).Scope
		}
		s := newStack(t, store, compat.Default())
		if got := login(s, ""); got != scopeRead {
			t.Errorf("registered for everything: %q, want the resource default %q", got, scopeRead)
		}
		if got := login(s, scopeWrite); got != scopeWrite {
			t.Errorf("registered for %s only: %q, want %q", scopeWrite, got, scopeWrite)
		}
		noDefaults := newStack(t, store, compat.Default(), func(o *teststack.Options) {
			o.Resources[0].DefaultScopes = nil
			o.Resources[0].Scopes = append(o.Resources[0].Scopes, provider.OfflineAccessScope)
		})
		if got, want := login(noDefaults, ""), scopeRead+" "+scopeWrite+" "+scopeAdmin; got != want {
			t.Errorf("no resource defaults: %q, want the client's registered scopes %q", got, want)
		}
	})
}

// RefreshGrace needs provider.RefreshTokenGraceStorage: with a storage without it,
// mcp.New refuses compat.Default() (whose grace window is on) with an error naming the
// switch, instead of skipping the shim; with the window at zero it starts.
func TestRefreshGrace_RefusedWithoutStorageSupport(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	cfg := func(c *compat.Options) mcp.Config {
		return mcp.Config{
			Provider: provider.Config{Issuer: "https://as.example", Storage: noGrace{store}, GlobalSecret: make([]byte, 32),
				AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "", false }, Logger: quiet},
			Resources: []resourceserver.Resource{{URL: "https://mcp.example/mcp"}},
			Compat:    c,
			Logger:    quiet,
		}
	}
	if _, err := mcp.New(t.Context(), cfg(nil)); err == nil || !strings.Contains(err.Error(), "compat.Options.RefreshGrace") {
		t.Fatalf("mcp.New with compat.Default on a storage without grace support: %v, want an error naming compat.Options.RefreshGrace", err)
	}
	noWindow := compat.Default()
	noWindow.RefreshGrace = compat.RefreshGrace{}
	if _, err := mcp.New(t.Context(), cfg(&noWindow)); err != nil {
		t.Fatalf("mcp.New without a grace window: %v", err)
	}
}

// noGrace hides the store's provider.RefreshTokenGraceStorage methods (a method of the
// same name shadows the promoted one).
type noGrace struct{ *gormstore.Store }

func (noGrace) GetRefreshTokenSessionWithGrace() {}
