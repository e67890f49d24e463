package mcp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/ratelimit"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// testClock is a settable clock for RateLimits.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestClock() *testClock { return &testClock{t: time.Date(2025, 11, 25, 0, 0, 0, 0, time.UTC)} }

// rlRequest is one request to a rate-limited endpoint.
type rlRequest struct {
	name, method, path string
	form               url.Values
	json               bool // the refusal is an RFC 6749 style JSON body (else a text page)
}

func rateLimitedEndpoints() []rlRequest {
	return []rlRequest{
		{"authorization endpoint", http.MethodGet, "/authorize?response_type=code&client_id=nobody", nil, false},
		{"built-in login page", http.MethodGet, "/login?auth_request=nothing", nil, false},
		{"token endpoint", http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"nobody"}}, true},
		{"revocation endpoint", http.MethodPost, "/revoke", url.Values{"token": {"x"}, "client_id": {"nobody"}}, true},
		{"introspection endpoint", http.MethodPost, "/introspect", url.Values{"token": {"x"}, "client_id": {"nobody"}}, true},
		{"registration endpoint", http.MethodPost, "/register", nil, true},
	}
}

func send(t *testing.T, base string, rq rlRequest, header http.Header) *http.Response {
	t.Helper()
	var body io.Reader
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	} else if rq.method == http.MethodPost {
		body = strings.NewReader(`{"redirect_uris":["http://localhost/cb"]}`)
	}
	req, err := http.NewRequest(rq.method, base+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case rq.form != nil:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// One request a minute per endpoint: the second is refused with 429, Retry-After and the
// endpoint's kind of body; every endpoint has its own bucket; the bucket refills.
func TestRateLimits_429RetryAfterPerEndpoint(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	clock := newTestClock()
	one := ratelimit.PerMinute(1, 1)
	_, base, _ := newServer(t, store, func(c *mcp.Config) {
		c.RateLimits = &mcp.RateLimits{Authorize: one, Login: one, Token: one, Revocation: one, Introspection: one,
			Registration: one, Now: clock.Now}
	})
	for _, rq := range rateLimitedEndpoints() {
		t.Run(rq.name, func(t *testing.T) {
			if resp := send(t, base, rq, nil); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("first request refused: another endpoint's requests spent this one's bucket")
			}
			resp := send(t, base, rq, nil)
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("second request: %d, want 429", resp.StatusCode)
			}
			if got := resp.Header.Get("Retry-After"); got != "60" {
				t.Errorf("Retry-After = %q, want 60", got)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("refusal redirects to %q", loc)
			}
			ct := resp.Header.Get("Content-Type")
			if rq.json {
				var body map[string]string
				if !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("Content-Type = %q, want JSON", ct)
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatal(err)
				}
				if body["error"] != "temporarily_unavailable" || body["error_description"] == "" {
					t.Errorf("body = %v", body)
				}
			} else if !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want a text page", ct)
			}
		})
	}
	// RFC 7592 client management shares the registration endpoint's bucket.
	if resp := send(t, base, rlRequest{method: http.MethodGet, path: "/register/nobody"}, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("RFC 7592 management after the registration bucket emptied: %d, want 429", resp.StatusCode)
	}
	clock.Advance(time.Minute)
	for _, rq := range rateLimitedEndpoints() {
		if resp := send(t, base, rq, nil); resp.StatusCode == http.StatusTooManyRequests {
			t.Errorf("%s: still refused after the bucket refilled", rq.name)
		}
	}
}

// The defaults are on without configuration: 20 token requests at once, then 429.
func TestRateLimits_DefaultsOn(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	clock := newTestClock()
	_, base, _ := newServer(t, store, func(c *mcp.Config) { c.RateLimits = &mcp.RateLimits{Now: clock.Now} })
	token := rateLimitedEndpoints()[2]
	for i := range mcp.DefaultRateLimits().Token.Burst {
		if resp := send(t, base, token, nil); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("token request %d refused within the default burst", i+1)
		}
	}
	if resp := send(t, base, token, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request beyond the default burst: %d, want 429", resp.StatusCode)
	}

	// The nil configuration is the same.
	_, base, _ = newServer(t, gormtest.Open(t, gormtest.SQLite))
	var refused bool
	for range mcp.DefaultRateLimits().Registration.Burst + 5 {
		refused = refused || send(t, base, rateLimitedEndpoints()[5], nil).StatusCode == http.StatusTooManyRequests
	}
	if !refused {
		t.Error("with RateLimits nil, registration is not limited")
	}
}

// The metadata documents, the JWKS and the MCP endpoint are never limited.
func TestRateLimits_MetadataAndMCPEndpointNotLimited(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	one := ratelimit.PerMinute(1, 1)
	_, base, _ := newServer(t, store, func(c *mcp.Config) {
		c.RateLimits = &mcp.RateLimits{Authorize: one, Login: one, Token: one, Revocation: one, Introspection: one, Registration: one}
		c.JWTAccessTokens = &mcp.JWTAccessTokens{Enabled: true}
	})
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration",
		"/.well-known/oauth-protected-resource/mcp", "/jwks.json", "/mcp"} {
		for i := range 5 {
			resp := send(t, base, rlRequest{method: http.MethodGet, path: path}, nil)
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusNotFound {
				t.Fatalf("GET %s #%d: %d", path, i+1, resp.StatusCode)
			}
		}
	}
}

func TestRateLimits_Disabled(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	_, base, _ := newServer(t, store, func(c *mcp.Config) { c.RateLimits = &mcp.RateLimits{Disabled: true} })
	for _, rq := range rateLimitedEndpoints() {
		for i := range 30 {
			if resp := send(t, base, rq, nil); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("%s request %d: 429 with limits disabled", rq.name, i+1)
			}
		}
	}
}

// One endpoint without a limit (ratelimit.Unlimited()), the others with theirs.
func TestRateLimits_UnlimitedEndpoint(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	_, base, _ := newServer(t, store, func(c *mcp.Config) {
		c.RateLimits = &mcp.RateLimits{Token: ratelimit.Unlimited(), Revocation: ratelimit.PerMinute(1, 1)}
	})
	for i := range 30 {
		if resp := send(t, base, rateLimitedEndpoints()[2], nil); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("token request %d: 429 with ratelimit.Unlimited()", i+1)
		}
	}
	send(t, base, rateLimitedEndpoints()[3], nil)
	if resp := send(t, base, rateLimitedEndpoints()[3], nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("revocation: %d, want 429", resp.StatusCode)
	}
}

// Clients behind a trusted proxy have their own buckets; without the proxy configured,
// X-Forwarded-For is ignored and cannot be used to escape the limit.
func TestRateLimits_OtherClientsUnaffected_ProxyHeaderOnlyWhenTrusted(t *testing.T) {
	token := rateLimitedEndpoints()[2]
	xff := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	one := ratelimit.PerMinute(1, 1)

	_, base, _ := newServer(t, gormtest.Open(t, gormtest.SQLite), func(c *mcp.Config) {
		c.RateLimits = &mcp.RateLimits{Token: one}
	})
	send(t, base, token, xff("198.51.100.1"))
	if resp := send(t, base, token, xff("198.51.100.2")); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("untrusted X-Forwarded-For changed the client: %d, want 429", resp.StatusCode)
	}

	_, base, _ = newServer(t, gormtest.Open(t, gormtest.SQLite), func(c *mcp.Config) {
		c.RateLimits = &mcp.RateLimits{Token: one, ClientIP: ratelimit.ClientIP{
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	})
	send(t, base, token, xff("198.51.100.1"))
	if resp := send(t, base, token, xff("198.51.100.1")); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("client 1 again: %d, want 429", resp.StatusCode)
	}
	for i := 2; i < 10; i++ {
		if resp := send(t, base, token, xff("198.51.100."+strconv.Itoa(i))); resp.StatusCode == http.StatusTooManyRequests {
			t.Errorf("client %d behind the trusted proxy refused: another client's bucket", i)
		}
	}
}

// The 2025-03-26 root fallbacks share the issuer's endpoints' buckets.
func TestRateLimits_LegacyRootEndpointsShareTheLimit(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	one := ratelimit.PerMinute(1, 1)
	srv, _ := newServerAt(t, store, "/as", func(c *mcp.Config) {
		opts := compat.Default()
		opts.LegacyEndpoints = true
		c.Compat = &opts
		c.RateLimits = &mcp.RateLimits{Token: one}
	})
	token := rateLimitedEndpoints()[2]
	send(t, srv.URL+"/as", token, nil)
	if resp := send(t, srv.URL, token, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("root /token after the issuer's /token: %d, want 429 (one bucket)", resp.StatusCode)
	}
}

func TestRateLimits_LimitLoginWrapsOwnPage(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	srv, _, auth := newServer(t, store, func(c *mcp.Config) {
		c.RateLimits = &mcp.RateLimits{Login: ratelimit.PerMinute(1, 1)}
	})
	h := auth.LimitLogin(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "login") }))
	mux := http.NewServeMux()
	mux.Handle("/my-login", h)
	srv.Config.Handler = mux
	send(t, srv.URL, rlRequest{method: http.MethodGet, path: "/my-login"}, nil)
	if resp := send(t, srv.URL, rlRequest{method: http.MethodGet, path: "/my-login"}, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("own login page: %d, want 429", resp.StatusCode)
	}
}

func TestNew_RejectsInvalidRateLimits(t *testing.T) {
	for name, rl := range map[string]*mcp.RateLimits{
		"negative burst":                 {Token: ratelimit.Limit{Requests: 1, Burst: -1}},
		"header without trusted proxies": {ClientIP: ratelimit.ClientIP{Header: "X-Real-IP"}},
		"negative MaxKeys":               {MaxKeys: -1},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := mcp.Config{
				Provider: provider.Config{Issuer: "http://127.0.0.1:1", Storage: gormtest.Open(t, gormtest.SQLite),
					GlobalSecret: []byte("server-test-global-secret-0123456789"),
					AutoApprove:  func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "alice", true }},
				Resources:  []resourceserver.Resource{{URL: "http://127.0.0.1:1/mcp"}},
				RateLimits: rl,
			}
			if _, err := mcp.New(t.Context(), cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

// newServerAt starts teststack's full server (mcp.New) on loopback with the issuer at
// path and one resource at /mcp on the same origin.
func newServerAt(t *testing.T, store *gormstore.Store, path string, edit ...func(*mcp.Config)) (*httptest.Server, *mcp.Server) {
	t.Helper()
	st := teststack.Start(t, teststack.Options{
		Store:      store,
		IssuerPath: path,
		Subject:    "alice",
		Resources:  []resourceserver.Resource{{URL: teststack.Origin + "/mcp", Name: "Test", Scopes: []string{"tools"}}},
		MCP: func(_ *teststack.Stack, cfg *mcp.Config) {
			for _, e := range edit {
				e(cfg)
			}
		},
	})
	return st.HTTP, st.Server
}
