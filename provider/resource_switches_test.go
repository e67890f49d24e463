package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// withMatch maps a resource with a trailing slash to the configured one (what the MCP
// layer's lenient resource matching does with a full registry).
func withMatch() envOption {
	return func(e *env, cfg *provider.Config) {
		cfg.MatchResource = func(r string) (string, bool) {
			if strings.TrimSuffix(r, "/") == e.resource {
				return e.resource, true
			}
			if r == e.base+"/unknown" {
				return "https://not-configured.example/mcp", true // must still be refused
			}
			return "", false
		}
	}
}

// RFC 8707 §2: without Config.MatchResource, only the canonical form of a configured
// resource is accepted; with it, the mapped resource is bound at the authorization
// endpoint and accepted at the token endpoint (code and refresh), and a mapping to
// anything not configured is still invalid_target.
func TestConfig_MatchResource(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		r := e.authorize("http://localhost:50123/callback", url.Values{"resource": {e.resource + "/"}})
		if got := r.redirect.Query().Get("error"); got != "invalid_target" {
			t.Errorf("without MatchResource: error %q, want invalid_target", got)
		}
	})
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50123/callback"
		code, verifier := e.code(redirect, url.Values{"resource": {e.resource + "/"}})
		resp, tok := e.exchange(code, verifier, redirect, url.Values{"resource": {e.resource + "/"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("exchange: %d %+v", resp.StatusCode, tok)
		}
		if in := e.introspect(tok.AccessToken); len(in.Aud) != 1 || in.Aud[0] != e.resource {
			t.Errorf("aud = %v, want [%s]", in.Aud, e.resource)
		}
		resp, tok = e.refresh(tok.RefreshToken, url.Values{"resource": {e.resource + "/"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, tok)
		}
		if in := e.introspect(tok.AccessToken); len(in.Aud) != 1 || in.Aud[0] != e.resource {
			t.Errorf("refreshed aud = %v", in.Aud)
		}
		for _, bad := range []string{e.base + "/unknown", "https://evil.example/mcp"} {
			r := e.authorize(redirect, url.Values{"resource": {bad}})
			if got := r.redirect.Query().Get("error"); got != "invalid_target" {
				t.Errorf("resource %s: error %q, want invalid_target", bad, got)
			}
		}
	}, withMatch())
}

// Config.RequireResource: an authorization or client credentials request that ends up
// without a resource is invalid_target (RFC 8707 §2 "missing"); with DefaultResource
// the default is bound instead.
func TestConfig_RequireResource(t *testing.T) {
	require := func(_ *env, cfg *provider.Config) { cfg.RequireResource = true }
	runEnv(t, func(t *testing.T, e *env) {
		r := e.authorize("http://localhost:50123/callback", url.Values{"resource": nil})
		if got := r.redirect.Query().Get("error"); got != "invalid_target" {
			t.Errorf("authorize without resource: error %q, want invalid_target", got)
		}
		resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {"client_credentials"}}, e.conf.ID, e.confSecret)
		wantJSONError(t, resp, http.StatusBadRequest, "invalid_target")
	}, require)
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(url.Values{"resource": nil})
		if in := e.introspect(tok.AccessToken); len(in.Aud) != 1 || in.Aud[0] != e.resource {
			t.Errorf("aud = %v, want the default resource", in.Aud)
		}
	}, require, func(e *env, cfg *provider.Config) { cfg.DefaultResource = e.resource })
}

// Config.RequireResourceOnCodeExchange and RequireResourceOnRefresh: a token request
// without `resource` is invalid_target, checked before the code is consumed or the
// refresh token rotated, so the same request with `resource` then succeeds. Off (the
// default), the token gets the grant's whole audience.
func TestConfig_RequireResourceAtTokenEndpoint(t *testing.T) {
	redirect := "http://localhost:50123/callback"
	runEnv(t, func(t *testing.T, e *env) {
		code, verifier := e.code(redirect, nil)
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_target" {
			t.Errorf("exchange without resource: %d %q, want 400 invalid_target", resp.StatusCode, tok.Error)
		}
		resp, tok := e.exchange(code, verifier, redirect, url.Values{"resource": {e.resource}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("retry with resource: %d %+v", resp.StatusCode, tok)
		}
		if resp, tok2 := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusBadRequest || tok2.Error != "invalid_target" {
			t.Errorf("refresh without resource: %d %q, want 400 invalid_target", resp.StatusCode, tok2.Error)
		}
		if resp, tok2 := e.refresh(tok.RefreshToken, url.Values{"resource": {e.resource}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh retry with resource: %d %+v", resp.StatusCode, tok2)
		}
	}, func(_ *env, cfg *provider.Config) {
		cfg.RequireResourceOnCodeExchange = true
		cfg.RequireResourceOnRefresh = true
	})
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		resp, tok2 := e.refresh(tok.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh without resource: %d %+v", resp.StatusCode, tok2)
		}
		if in := e.introspect(tok2.AccessToken); len(in.Aud) != 1 || in.Aud[0] != e.resource {
			t.Errorf("aud after refresh = %v, want the bound audience", in.Aud)
		}
	})
}
