package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 8252 §7.3 gives any port to loopback IP literals always; "localhost" gets it only
// while Config.ExactLocalhostRedirects is off (the default).
func TestConfig_ExactLocalhostRedirects(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
		resp := e.get(e.issuer + "/authorize?" + q.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("localhost on another port: %d %q; want the error page, no redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
		if r := e.authorize(loopbackCB, nil); r.redirect.Query().Get("code") == "" {
			t.Errorf("registered localhost URI, exact: %s", r.redirect)
		}
		ctx := context.Background()
		c, _, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: "ip-app", Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"}})
		if err != nil {
			t.Fatal(err)
		}
		q, _ = e.authorizeParams("http://127.0.0.1:50123/callback", url.Values{"client_id": {c.ID}})
		if loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode())); loc.Query().Get("code") == "" {
			t.Errorf("loopback IP on another port: %s; want a code (RFC 8252 §7.3)", loc)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.ExactLocalhostRedirects = true })
}

// Config.MinStateLength: a missing or short state is invalid_request, redirected to the
// client; zero (the default) accepts both (PKCE binds the code).
func TestConfig_MinStateLength(t *testing.T) {
	redirect := "http://localhost:50123/callback"
	runEnv(t, func(t *testing.T, e *env) {
		for _, st := range [][]string{nil, {"short"}} {
			r := e.authorize(redirect, url.Values{"state": st})
			if q := r.redirect.Query(); q.Get("error") != "invalid_request" || q.Get("iss") != e.issuer {
				t.Errorf("state %q: redirect %s; want invalid_request with iss", st, r.redirect)
			}
		}
		if r := e.authorize(redirect, url.Values{"state": {"12345678"}}); r.redirect.Query().Get("code") == "" {
			t.Errorf("8-character state refused: %s", r.redirect)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.MinStateLength = 8 })
	runEnv(t, func(t *testing.T, e *env) {
		for _, st := range [][]string{nil, {"a"}} {
			if r := e.authorize(redirect, url.Values{"state": st}); r.redirect.Query().Get("code") == "" {
				t.Errorf("state %q refused by default: %s", st, r.redirect)
			}
		}
	})
}

// Config.TokenRedirectURIOptional: a code exchange without redirect_uri succeeds when the
// code was issued for the client's only registered redirect URI (OAuth 2.1 §10.2), and
// is invalid_grant (RFC 6749 §4.1.3) otherwise, and always when the switch is off.
func TestConfig_TokenRedirectURIOptional(t *testing.T) {
	const single = "https://app.example.com/callback"
	setup := func(t *testing.T, e *env) {
		if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{ID: "single", Public: true, RedirectURIs: []string{single}}); err != nil {
			t.Fatal(err)
		}
	}
	exchange := func(t *testing.T, e *env, clientID, redirect string) (int, tokenResponse) {
		code, verifier := e.code(redirect, url.Values{"client_id": {clientID}})
		resp, tok := e.exchange(code, verifier, redirect, url.Values{"redirect_uri": nil, "client_id": {clientID}})
		return resp.StatusCode, tok
	}
	runEnv(t, func(t *testing.T, e *env) {
		setup(t, e)
		if status, tok := exchange(t, e, "single", single); status != http.StatusOK {
			t.Errorf("single registered URI: %d %+v; want tokens", status, tok)
		}
		// Two registered URIs (the public client): the omission stays an error.
		if status, tok := exchange(t, e, e.public.ID, "http://localhost:50123/callback"); status != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("two registered URIs: %d %+v; want invalid_grant", status, tok)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.TokenRedirectURIOptional = true })
	runEnv(t, func(t *testing.T, e *env) {
		setup(t, e)
		if status, tok := exchange(t, e, "single", single); status != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("switch off: %d %+v; want invalid_grant (RFC 6749 §4.1.3)", status, tok)
		}
	})
}

// Configuration errors of the switches.
func TestConfig_CompatSwitchValidation(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	base := provider.Config{Issuer: "https://as.example", Storage: s, GlobalSecret: make([]byte, 32),
		AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "", false }}
	for name, edit := range map[string]func(*provider.Config){
		"negative MinStateLength": func(c *provider.Config) { c.MinStateLength = -1 },
		"grace without period":    func(c *provider.Config) { c.RefreshTokenGrace.MaxReuses = 2 },
		"negative reuses": func(c *provider.Config) {
			c.RefreshTokenGrace = provider.RefreshTokenGrace{Period: time.Second, MaxReuses: -1}
		},
		"grace storage missing": func(c *provider.Config) {
			c.Storage = noGrace{s}
			c.RefreshTokenGrace.Period = time.Second
		},
	} {
		cfg := base
		edit(&cfg)
		if _, err := provider.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// noGrace hides the store's RefreshTokenGraceStorage methods (a method of the same name
// shadows the promoted one).
type noGrace struct{ *gormstore.Store }

func (noGrace) GetRefreshTokenSessionWithGrace() {}
