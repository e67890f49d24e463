package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/syncbuf"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// swapHandler lets a test restart the demo behind the same URL.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := s.h.Load()
	if p == nil {
		http.Error(w, "no server", http.StatusServiceUnavailable)
		return
	}
	(*p).ServeHTTP(w, r)
}

// testDemo is a running demo server on a loopback port.
type testDemo struct {
	t       *testing.T
	url     string // issuer
	mcpURL  string
	cfg     serverConfig
	server  *demoServer
	swap    *swapHandler
	logs    *syncbuf.Buffer
	closeMu sync.Mutex
}

// demoOptions configure startDemo.
type demoOptions struct {
	db          gormtest.Database
	autoApprove string
	secretsPath string
	tokenTTL    time.Duration
	// jwt selects JWT access tokens (-access-tokens jwt).
	jwt bool
	// cimd are the client ID metadata document settings; nil means what the demo
	// command uses by default (the package defaults), cimdOff turns them off
	// (-cimd=false).
	cimd    *cimd.Options
	cimdOff bool
	// rateLimits is mcp.Config.RateLimits; nil means the library's defaults, as the
	// demo command runs.
	rateLimits *mcp.RateLimits
}

// startDemo starts the demo (newServer, as `demo serve` does) on a fresh loopback port.
func startDemo(t *testing.T, o demoOptions) *testDemo {
	t.Helper()
	if o.db.Backend == "" {
		o.db = gormtest.NewDatabase(t, gormtest.SQLite)
	}
	if o.secretsPath == "" {
		o.secretsPath = filepath.Join(t.TempDir(), "demo.secrets")
	}
	if o.cimd == nil {
		o.cimd = cimdOptions(!o.cimdOff)
	}
	swap := &swapHandler{}
	ts := httptest.NewServer(swap)
	t.Cleanup(ts.Close)
	logs := &syncbuf.Buffer{}
	d := &testDemo{
		t: t, url: ts.URL, mcpURL: ts.URL + mcpPath, swap: swap, logs: logs,
		cfg: serverConfig{
			Issuer:          ts.URL,
			DBPath:          o.db.Path,
			PostgresDSN:     o.db.DSN,
			SecretsPath:     o.secretsPath,
			AutoApprove:     o.autoApprove,
			AccessTokenTTL:  o.tokenTTL,
			JWTAccessTokens: o.jwt,
			CIMD:            o.cimd,
			RateLimits:      o.rateLimits,
			Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		},
	}
	d.restart()
	t.Cleanup(func() {
		d.closeMu.Lock()
		defer d.closeMu.Unlock()
		if d.server != nil {
			_ = d.server.Close()
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	return d
}

// restart replaces the running server by a new one on the same configuration (same
// database, same secrets file, same URL), as a process restart would.
func (d *testDemo) restart() {
	d.t.Helper()
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.server != nil {
		_ = d.server.Close()
	}
	s, err := newServer(context.Background(), d.cfg)
	if err != nil {
		d.t.Fatalf("newServer: %v", err)
	}
	d.server = s
	d.swap.set(s.Handler())
}

// runClient runs the demo client against the demo and returns its output.
func (d *testDemo) runClient(t *testing.T, o clientOptions) (string, error) {
	t.Helper()
	if o.URL == "" {
		o.URL = d.mcpURL
	}
	if o.CallbackAddr == "" {
		o.CallbackAddr = "127.0.0.1:0"
	}
	if o.LoginTimeout == 0 {
		o.LoginTimeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runClient(ctx, o, &out)
	return out.String(), err
}

// redirectBrowser is a browser stand-in for -auto-approve runs: it follows the
// redirects from the authorization URL to the client's callback.
type redirectBrowser struct {
	visits atomic.Int32
}

func (b *redirectBrowser) open(ctx context.Context, u string) error {
	b.visits.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// pageClient is a cookie-keeping HTTP client that does not follow redirects, for
// walking the pages step by step.
func pageClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// registeredClient is a client registered through DCR, with a PKCE pair.
type registeredClient struct {
	ID, RedirectURI string
	verifier        string
}

// register registers a public client named name with redirectURI (RFC 7591).
func (d *testDemo) register(t *testing.T, name, redirectURI string, extra map[string]any) registeredClient {
	t.Helper()
	body := map[string]any{
		"client_name":                name,
		"redirect_uris":              []string{redirectURI},
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
	}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(d.url+"/register", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	return registeredClient{ID: out.ClientID, RedirectURI: redirectURI, verifier: rand.Text() + rand.Text()}
}

// authorizeURL returns an authorization request URL for c.
func (d *testDemo) authorizeURL(c registeredClient, state, scope string) string {
	sum := sha256.Sum256([]byte(c.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURI},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"state":                 {state},
		"resource":              {d.mcpURL},
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	return d.url + "/authorize?" + q.Encode()
}

// exchange redeems code at the token endpoint and returns the token response.
func (d *testDemo) exchange(t *testing.T, c registeredClient, code string) map[string]any {
	t.Helper()
	resp, err := http.PostForm(d.url+"/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {c.RedirectURI},
		"client_id":     {c.ID},
		"code_verifier": {c.verifier},
		"resource":      {d.mcpURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, out)
	}
	return out
}

// callbackServer records the authorization responses it receives.
type callbackServer struct {
	*httptest.Server
	got chan url.Values
}

func newCallbackServer(t *testing.T) *callbackServer {
	t.Helper()
	c := &callbackServer{got: make(chan url.Values, 8)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.got <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!DOCTYPE html><title>callback</title><h1 id=done>Callback received</h1>")
	}))
	t.Cleanup(c.Close)
	return c
}

// redirectURI is the callback URL to register.
func (c *callbackServer) redirectURI() string { return c.URL + "/cb" }

// wait returns the next authorization response.
func (c *callbackServer) wait(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-c.got:
		return q
	case <-time.After(30 * time.Second):
		t.Fatal("no authorization response at the callback")
		return nil
	}
}

// none reports that no authorization response arrived.
func (c *callbackServer) none(t *testing.T) {
	t.Helper()
	select {
	case q := <-c.got:
		t.Fatalf("unexpected authorization response at the callback: %v", q)
	default:
	}
}

// mustContain fails unless s contains every want.
func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
