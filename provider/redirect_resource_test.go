package provider_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestRFC8252_7_3_LoopbackRedirect: a registered loopback redirect URI matches on any
// port, for 127.0.0.0/8, [::1] and localhost alike, while scheme, host, path and query
// must match; the token endpoint then compares with what the authorization request sent.
func TestRFC8252_7_3_LoopbackRedirect(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c, _, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: "native", Public: true, RedirectURIs: []string{
			"http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/cb?x=1", "com.example.app:/oauth2redirect",
			"https://app.example.com/cb",
		}})
		if err != nil {
			t.Fatal(err)
		}
		ok := []string{
			"http://127.0.0.1/cb", "http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb",
			"http://[::1]/cb", "http://[::1]:49152/cb",
			"http://localhost:3000/cb?x=1", "http://localhost:4000/cb?x=1", "http://localhost/cb?x=1",
			"com.example.app:/oauth2redirect", // RFC 8252 §7.1 private-use scheme, exact
			"https://app.example.com/cb",
		}
		refused := []string{
			"http://127.0.0.2:1/cb",             // another loopback address is another host
			"http://localhost:1/cb",             // host differs from the registered 127.0.0.1
			"http://127.0.0.1:1/cb/",            // path differs
			"http://localhost:4000/cb",          // query differs
			"http://localhost:4000/cb?x=2",      // query differs
			"https://127.0.0.1:1/cb",            // port freedom is for http loopback only
			"https://app.example.com:8443/cb",   // not loopback: exact match
			"com.example.app:/oauth2redirect/x", // private-use: exact match
			"http://127.0.0.1:1/cb#x",           // fragment
			"http://127.0.0.1:abc/cb",           // not a port
		}
		for _, redirect := range ok {
			t.Run("ok "+redirect, func(t *testing.T) {
				q, verifier := e.authorizeParams(redirect, url.Values{"client_id": {c.ID}})
				loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode()))
				if loc.Query().Get("code") == "" {
					t.Fatalf("redirect %s", loc)
				}
				base := *loc
				base.RawQuery = ""
				if want, _ := url.Parse(redirect); base.Scheme != want.Scheme || base.Host != want.Host || base.Path != want.Path {
					t.Fatalf("sent to %s, want %s", loc, redirect)
				}
				form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
					"code_verifier": {verifier}, "redirect_uri": {redirect}, "client_id": {c.ID}}
				if resp := e.postForm(e.issuer+"/token", form, "", ""); resp.StatusCode != http.StatusOK {
					t.Fatalf("token: %d", resp.StatusCode)
				}
			})
		}
		for _, redirect := range refused {
			t.Run("refused "+redirect, func(t *testing.T) {
				q, _ := e.authorizeParams(redirect, url.Values{"client_id": {c.ID}})
				resp := e.get(e.issuer + "/authorize?" + q.Encode())
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
				}
			})
		}
		t.Run("the port widening does not leak to other requests", func(t *testing.T) {
			stored, err := e.store.LoadClient(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored.RedirectURIs) != 5 {
				t.Fatalf("stored redirect URIs changed: %v", stored.RedirectURIs)
			}
		})
	})
}

// TestValidateRedirectURI pins the redirect URI rules (OAuth 2.1 §2.3.1, RFC 8252 §7).
func TestValidateRedirectURI(t *testing.T) {
	for _, ok := range []string{
		"https://app.example/cb", "https://app.example/cb?a=1", "http://127.0.0.1/cb", "http://127.0.0.1:8080/cb",
		"http://[::1]:9/cb", "http://localhost/cb", "http://LOCALHOST:1/cb", "com.example.app:/cb",
	} {
		if err := provider.ValidateRedirectURI(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "/cb", "cb", "https://app.example/cb#f", "https://app.example/cb#", "http://app.example/cb", "http://10.0.0.1/cb",
		"http://localhost.evil.example/cb", "javascript:alert(1)", "javascript://x/%0aalert(1)", "data:text/html,x", "vbscript://x",
		"file:///etc/passwd", "https://user:pw@app.example/cb", "https:///cb", "com.example.app:cb", "HTTPS://app.example/cb",
		"https://app.example/c b",
	} {
		if err := provider.ValidateRedirectURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRFC8707_2_Resources pins resource indicators at the token endpoint: a token
// request's resource may equal or narrow the grant's audience, never widen it; the
// check happens before the code is consumed or the refresh token rotated, so
// invalid_target is retryable; a refresh without resource keeps the grant's audience.
func TestRFC8707_2_Resources(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		redirect := "http://localhost:50999/callback"
		both := url.Values{"resource": {e.resource, otherRes}}
		audience := func(tok tokenResponse) []string {
			t.Helper()
			at, err := e.p.VerifyAccessToken(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			return at.Audience
		}

		t.Run("§2.2 widening refused, retry allowed, then narrowing", func(t *testing.T) {
			code, verifier := e.code(redirect, url.Values{"resource": {e.resource}})
			for _, res := range []string{otherRes, "https://unknown.example/", "relative", e.resource + "#frag"} {
				resp, tr := e.exchange(code, verifier, redirect, url.Values{"resource": {res}})
				if resp.StatusCode != 400 || tr.Error != "invalid_target" {
					t.Fatalf("resource %s: %d %+v", res, resp.StatusCode, tr)
				}
			}
			resp, tr := e.exchange(code, verifier, redirect, url.Values{"resource": {e.resource}})
			if resp.StatusCode != 200 {
				t.Fatalf("retry after invalid_target: %d %+v (was the code consumed?)", resp.StatusCode, tr)
			}
			if got := audience(tr); !slices.Equal(got, []string{e.resource}) {
				t.Fatalf("audience %v", got)
			}
		})
		t.Run("resource is case-normalised", func(t *testing.T) {
			code, verifier := e.code(redirect, url.Values{"resource": {"HTTPS://MCP.EXAMPLE.COM:443/mcp"}})
			resp, tr := e.exchange(code, verifier, redirect, url.Values{"resource": {otherRes}})
			if resp.StatusCode != 200 || !slices.Equal(audience(tr), []string{otherRes}) {
				t.Fatalf("%d %+v", resp.StatusCode, tr)
			}
		})
		t.Run("narrowing at code exchange, refresh restores the grant's audience", func(t *testing.T) {
			code, verifier := e.code(redirect, both)
			resp, tr := e.exchange(code, verifier, redirect, url.Values{"resource": {otherRes}})
			if resp.StatusCode != 200 || !slices.Equal(audience(tr), []string{otherRes}) {
				t.Fatalf("narrowed exchange %d %+v", resp.StatusCode, tr)
			}
			resp, tr2 := e.refresh(tr.RefreshToken, nil)
			if resp.StatusCode != 200 || !slices.Equal(audience(tr2), []string{e.resource, otherRes}) {
				t.Fatalf("refresh without resource: %d %v", resp.StatusCode, audience(tr2))
			}
		})
		t.Run("refresh: narrowing, widening refused before rotation", func(t *testing.T) {
			code, verifier := e.code(redirect, url.Values{"resource": {e.resource}})
			_, tr := e.exchange(code, verifier, redirect, nil)
			if got := audience(tr); !slices.Equal(got, []string{e.resource}) {
				t.Fatalf("audience without resource at exchange: %v", got)
			}
			resp, bad := e.refresh(tr.RefreshToken, url.Values{"resource": {otherRes}})
			if resp.StatusCode != 400 || bad.Error != "invalid_target" {
				t.Fatalf("widening refresh: %d %+v", resp.StatusCode, bad)
			}
			resp, tr2 := e.refresh(tr.RefreshToken, url.Values{"resource": {e.resource}})
			if resp.StatusCode != 200 || !slices.Equal(audience(tr2), []string{e.resource}) {
				t.Fatalf("refresh after invalid_target (was the token rotated?): %d %+v", resp.StatusCode, tr2)
			}
		})
		t.Run("no resource: no audience", func(t *testing.T) {
			tok := e.tokens(url.Values{"resource": nil})
			if got := audience(tok); len(got) != 0 {
				t.Fatalf("audience %v", got)
			}
			resp, tr := e.refresh(tok.RefreshToken, url.Values{"resource": {e.resource}})
			if resp.StatusCode != 400 || tr.Error != "invalid_target" {
				t.Fatalf("refresh asking for a resource the grant lacks: %d %+v", resp.StatusCode, tr)
			}
		})
	})
}

// TestRFC8707_DefaultResource: with Config.DefaultResource, a request without resource
// is bound to it.
func TestRFC8707_DefaultResource(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(url.Values{"resource": nil})
		at, err := e.p.VerifyAccessToken(context.Background(), tok.AccessToken)
		if err != nil || !slices.Equal(at.Audience, []string{otherRes}) {
			t.Fatalf("%+v %v", at, err)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.DefaultResource = otherRes })
}

// TestAuthorizeHook: the hook adjusts scopes and resources before validation, or
// rejects the request with an RFC 6749 error sent to the client with iss.
func TestAuthorizeHook(t *testing.T) {
	hook := func(_ context.Context, req *provider.AuthorizationRequest) error {
		if slices.Contains(req.Scopes, "forbidden") {
			return provider.ErrInvalidTarget.WithHint("no")
		}
		if slices.Contains(req.Scopes, "boom") {
			return errors.New("internal")
		}
		// mcp-remote style: drop unknown scopes, default when none remain.
		kept := req.Scopes[:0]
		for _, s := range req.Scopes {
			if s == "read" || s == "write" {
				kept = append(kept, s)
			}
		}
		req.Scopes = kept
		if len(req.Scopes) == 0 {
			req.Scopes = []string{"read"}
		}
		return nil
	}
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		code, verifier := e.code(redirect, url.Values{"scope": {"openid email profile write"}})
		if resp, tr := e.exchange(code, verifier, redirect, nil); resp.StatusCode != 200 || tr.Scope != "write" {
			t.Fatalf("filtered scopes: %+v", tr)
		}
		code, verifier = e.code(redirect, url.Values{"scope": nil})
		if resp, tr := e.exchange(code, verifier, redirect, nil); resp.StatusCode != 200 || tr.Scope != "read" {
			t.Fatalf("default scopes: %+v", tr)
		}
		q := e.authorize(redirect, url.Values{"scope": {"forbidden"}}).redirect.Query()
		if q.Get("error") != "invalid_target" || q.Get("iss") != e.issuer {
			t.Fatalf("hook rejection: %v", q)
		}
		q = e.authorize(redirect, url.Values{"scope": {"boom"}}).redirect.Query()
		if q.Get("error") != "server_error" {
			t.Fatalf("hook failure: %v", q)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.AuthorizeHook = hook })
}
