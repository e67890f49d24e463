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

// loginPage sends a fresh authorization request of client, opens the login page in the
// same browser and returns the request ID, the page body, the CSRF token and the
// browser-binding cookie.
func (e *env) loginPage(clientID, redirect string) (id, body, csrf string, cookie *http.Cookie) {
	e.t.Helper()
	q, _ := e.authorizeParams(redirect, url.Values{"client_id": {clientID}})
	resp := e.get(e.issuer + "/authorize?" + q.Encode())
	loc := location(e.t, resp)
	id = loc.Query().Get(provider.LoginRequestParam)
	cookie = bindingCookie(e.t, resp)
	body, csrf = e.openLogin(id, cookie)
	return id, body, csrf, cookie
}

// openLogin opens the login page of the pending request id with cookie (a tab) and
// returns the page and its CSRF token.
func (e *env) openLogin(id string, cookie *http.Cookie) (body, csrf string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/login?"+url.Values{provider.LoginRequestParam: {id}}.Encode(), nil)
	req.AddCookie(cookie)
	resp := e.do(req)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("login page: %d %s", resp.StatusCode, b)
	}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
		e.t.Errorf("the login page sets cookies: %v", sc)
	}
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		e.t.Fatalf("no CSRF token in %s", b)
	}
	return string(b), string(m[1])
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
		// Stored directly: CreateClient refuses such a client_uri, the page must escape it anyway.
		evil := &provider.Client{ID: "evil", Public: true, TokenEndpointAuthMethod: provider.AuthMethodNone,
			Name: `<script>alert("x")</script>`, URI: `https://x.example/"><img src=x>`, RedirectURIs: []string{"http://127.0.0.1/cb"},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"read", "write"},
			Source: provider.ClientSourceStatic}
		if err := e.store.CreateClient(ctx, evil); err != nil {
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
		t.Run("cookie of another request", func(t *testing.T) {
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
			get, _ := http.NewRequest(http.MethodGet, e.issuer+"/login?"+approve.Encode(), nil)
			get.AddCookie(cookie)
			resp := e.do(get)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if _, err := e.p.AuthorizationRequest(browserRequest(e.issuer+"/login", cookie), id); err != nil {
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
			resp := e.postLogin(approve, cookie)
			wantBindingCleared(t, resp, cookie)
			loc := location(t, resp)
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
			resp := e.postLogin(url.Values{provider.LoginRequestParam: {id}, "csrf_token": {csrf}, "action": {"deny"}}, cookie)
			wantBindingCleared(t, resp, cookie)
			loc := location(t, resp)
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

// wantBindingCleared fails unless resp, the answer to a pending request, expires its
// browser-binding cookie (Set-Cookie with the same name and path, Max-Age=0).
func wantBindingCleared(t *testing.T, resp *http.Response, binding *http.Cookie) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == binding.Name && c.MaxAge < 0 && c.Path == binding.Path && c.Value == "" {
			return
		}
	}
	t.Errorf("the answer does not expire the binding cookie %s; Set-Cookie: %q", binding.Name, resp.Header.Values("Set-Cookie"))
}

func cloneForm(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// RFC 6749 §4.1.2.1 at approval: a client whose redirect URIs change (RFC 7592) between
// the login page and the user's approval gets the request's error on the server's page,
// as a 400, not a 500 (found by a security review), and no redirect anywhere.
func TestBuiltInLoginPage_RedirectURIChangedBeforeApproval(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		c := &provider.Client{ID: "dyn", Public: true, TokenEndpointAuthMethod: provider.AuthMethodNone,
			RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"},
			ResponseTypes: []string{"code"}, Scopes: []string{"read"}, Source: provider.ClientSourceDynamic}
		if err := e.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		id, _, csrf, cookie := e.loginPage(c.ID, "http://127.0.0.1:8123/cb")
		c.RedirectURIs = []string{"http://127.0.0.1/other"}
		if err := e.store.UpdateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		resp := e.postLogin(url.Values{provider.LoginRequestParam: {id}, "csrf_token": {csrf}, "action": {"approve"},
			"username": {testUser}, "password": {testPassword}}, cookie)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "invalid_request") {
			t.Errorf("approve after the redirect URIs changed: %d, Location %q\n%.400s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}, withLogin())
}

// TestPendingAuthorizationExpiry: a pending request past its lifespan cannot be approved.
func TestPendingAuthorizationExpiry(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
		id, browser := e.pending(q)
		time.Sleep(400 * time.Millisecond)
		if _, err := e.p.Approve(browser, id, testSubject, nil); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("expired approval: %v", err)
		}
	}, withLogin(), func(_ *env, cfg *provider.Config) { cfg.PendingAuthorizationLifespan = 300 * time.Millisecond })
}

// TestCustomLoginURL: with Config.LoginURL, the browser goes there with the request ID,
// and no built-in page is served.
func TestCustomLoginURL(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
		resp := e.get(e.issuer + "/authorize?" + q.Encode())
		loc := location(t, resp)
		if c := bindingCookie(t, resp); c.Path != "/consent" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("binding cookie %+v: want Path=/consent (LoginURL's), HttpOnly, SameSite=Lax", c)
		}
		if loc.Host != strings.TrimPrefix(e.base, "http://") || loc.Path != "/consent" || loc.Query().Get("lang") != "en" || loc.Query().Get(provider.LoginRequestParam) == "" {
			t.Fatalf("redirect %s", loc)
		}
		if resp := e.get(e.issuer + "/login"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("built-in login page served: %d", resp.StatusCode)
		}
	}, func(e *env, cfg *provider.Config) {
		cfg.AutoApprove = nil
		cfg.LoginURL = e.base + "/consent?lang=en"
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
		"login URL on another host":  func(c *provider.Config) { c.LoginURL = "https://consent.example.com/consent" },
		"login URL over http":        func(c *provider.Config) { c.LoginURL = "http://auth.example.com/consent" },
		"relative login URL":         func(c *provider.Config) { c.LoginURL = "consent" },
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
