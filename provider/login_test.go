package provider_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// loginPage opens the login page for a fresh authorization request of client and
// returns the request ID, the page body, the CSRF token and cookie.
func (e *env) loginPage(clientID, redirect string) (id, body, csrf string, cookie *http.Cookie) {
	e.t.Helper()
	q, _ := e.authorizeParams(redirect, url.Values{"client_id": {clientID}})
	loc := location(e.t, e.get(e.issuer+"/authorize?"+q.Encode()))
	id = loc.Query().Get(provider.LoginRequestParam)
	resp := e.get(loc.String())
	b, _ := io.ReadAll(resp.Body)
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		e.t.Fatalf("no CSRF token in %s", b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "fosite_mcp_csrf" {
			cookie = c
		}
	}
	return id, string(b), string(m[1]), cookie
}

func (e *env) postLogin(form url.Values, cookie *http.Cookie) *http.Response {
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return e.do(req)
}

// TestBuiltInLoginPage pins the built-in consent page's protections: approval only by
// POST with a CSRF token bound to the cookie and the request, client strings escaped,
// the redirect host shown, localhost-only clients warned about, a working deny button.
func TestBuiltInLoginPage(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		redirect := "http://localhost:50999/callback"
		evil, _, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: "evil", Public: true,
			Name: `<script>alert("x")</script>`, URI: `https://x.example/"><img src=x>`, RedirectURIs: []string{"http://127.0.0.1/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		id, body, csrf, cookie := e.loginPage(evil.ID, "http://127.0.0.1:8123/cb")
		if strings.Contains(body, "<script>alert") || strings.Contains(body, `"><img`) {
			t.Fatalf("client strings not escaped:\n%s", body)
		}
		for _, want := range []string{"&lt;script&gt;", "127.0.0.1:8123", "only receives responses on this computer"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		approve := url.Values{provider.LoginRequestParam: {id}, "csrf_token": {csrf}, "action": {"approve"},
			"username": {testUser}, "password": {testPassword}}

		t.Run("no cookie", func(t *testing.T) {
			if resp := e.postLogin(approve, nil); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("no token", func(t *testing.T) {
			f := cloneForm(approve)
			f.Del("csrf_token")
			if resp := e.postLogin(f, cookie); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("cookie of another page view", func(t *testing.T) {
			_, _, _, other := e.loginPage(e.public.ID, redirect)
			if resp := e.postLogin(approve, other); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("token of another request", func(t *testing.T) {
			otherID, _, otherCSRF, otherCookie := e.loginPage(e.public.ID, redirect)
			_ = otherID
			f := cloneForm(approve)
			f.Set("csrf_token", otherCSRF)
			if resp := e.postLogin(f, otherCookie); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("GET never approves", func(t *testing.T) {
			resp := e.get(e.issuer + "/login?" + approve.Encode())
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if _, err := e.p.AuthorizationRequest(ctx, id); err != nil {
				t.Fatalf("GET consumed the request: %v", err)
			}
		})
		t.Run("wrong method", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodDelete, e.issuer+"/login", nil)
			if resp := e.do(req); resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("approve", func(t *testing.T) {
			loc := location(t, e.postLogin(approve, cookie))
			if loc.Host != "127.0.0.1:8123" || loc.Query().Get("code") == "" || loc.Query().Get("iss") != e.issuer {
				t.Fatalf("redirect %s", loc)
			}
			// Replaying the approval finds nothing.
			if resp := e.postLogin(approve, cookie); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("replayed approval: %d", resp.StatusCode)
			}
		})
		t.Run("deny", func(t *testing.T) {
			id, _, csrf, cookie := e.loginPage(e.public.ID, redirect)
			loc := location(t, e.postLogin(url.Values{provider.LoginRequestParam: {id}, "csrf_token": {csrf}, "action": {"deny"}}, cookie))
			if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-123" || loc.Query().Get("iss") != e.issuer {
				t.Fatalf("redirect %s", loc)
			}
		})
		t.Run("unknown request", func(t *testing.T) {
			resp := e.get(e.issuer + "/login?" + provider.LoginRequestParam + "=nope")
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d", resp.StatusCode)
			}
			checkPageHeaders(t, resp)
		})
	}, withLogin())
}

func cloneForm(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// TestPendingAuthorizationExpiry: a pending request past its lifespan cannot be approved.
func TestPendingAuthorizationExpiry(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
		id := location(t, e.get(e.issuer+"/authorize?"+q.Encode())).Query().Get(provider.LoginRequestParam)
		time.Sleep(400 * time.Millisecond)
		if _, err := e.p.Approve(context.Background(), id, testSubject, nil); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("expired approval: %v", err)
		}
	}, withLogin(), func(_ *env, cfg *provider.Config) { cfg.PendingAuthorizationLifespan = 300 * time.Millisecond })
}

// TestCustomLoginURL: with Config.LoginURL, the browser goes there with the request ID,
// and no built-in page is served.
func TestCustomLoginURL(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
		loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode()))
		if loc.Host != "consent.example" || loc.Path != "/consent" || loc.Query().Get("lang") != "en" || loc.Query().Get(provider.LoginRequestParam) == "" {
			t.Fatalf("redirect %s", loc)
		}
		if resp := e.get(e.issuer + "/login"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("built-in login page served: %d", resp.StatusCode)
		}
	}, func(_ *env, cfg *provider.Config) {
		cfg.AutoApprove = nil
		cfg.LoginURL = "https://consent.example/consent?lang=en"
	})
}

// TestConfigValidation pins what New refuses.
func TestConfigValidation(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	secret := bytes.Repeat([]byte("s"), 32)
	auth := provider.AuthenticatorFunc(func(context.Context, string, string) (string, error) { return "", errors.New("no") })
	valid := func() provider.Config {
		return provider.Config{Issuer: "https://auth.example.com", Storage: s, GlobalSecret: secret, Authenticator: auth}
	}
	if _, err := provider.New(valid()); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := map[string]func(c *provider.Config){
		"no issuer":                  func(c *provider.Config) { c.Issuer = "" },
		"issuer trailing slash":      func(c *provider.Config) { c.Issuer = "https://auth.example.com/" },
		"issuer path trailing slash": func(c *provider.Config) { c.Issuer = "https://auth.example.com/oauth/" },
		"issuer http off loopback":   func(c *provider.Config) { c.Issuer = "http://auth.example.com" },
		"issuer query":               func(c *provider.Config) { c.Issuer = "https://auth.example.com?x=1" },
		"issuer fragment":            func(c *provider.Config) { c.Issuer = "https://auth.example.com#x" },
		"issuer uppercase host":      func(c *provider.Config) { c.Issuer = "https://Auth.example.com" },
		"issuer default port":        func(c *provider.Config) { c.Issuer = "https://auth.example.com:443" },
		"issuer user info":           func(c *provider.Config) { c.Issuer = "https://u@auth.example.com" },
		"issuer relative":            func(c *provider.Config) { c.Issuer = "/oauth" },
		"no storage":                 func(c *provider.Config) { c.Storage = nil },
		"short secret":               func(c *provider.Config) { c.GlobalSecret = secret[:31] },
		"short rotated secret":       func(c *provider.Config) { c.RotatedGlobalSecrets = [][]byte{secret[:8]} },
		"bad scope":                  func(c *provider.Config) { c.Scopes = []string{"a b"} },
		"bad resource":               func(c *provider.Config) { c.Resources = []string{"https://x.example/#f"} },
		"default resource unlisted":  func(c *provider.Config) { c.DefaultResource = "https://x.example/" },
		"no way to log in":           func(c *provider.Config) { c.Authenticator = nil },
		"nil access token strategy": func(c *provider.Config) {
			c.AccessTokenStrategy = func(oauth2.CoreStrategy, *fosite.Config) oauth2.AccessTokenStrategy { return nil }
		},
	}
	for name, mutate := range cases {
		c := valid()
		mutate(&c)
		if _, err := provider.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost/oauth", "http://[::1]:9000/a/b", "https://auth.example.com/tenant/1"} {
		c := valid()
		c.Issuer = ok
		if _, err := provider.New(c); err != nil {
			t.Errorf("issuer %s: %v", ok, err)
		}
	}
}
