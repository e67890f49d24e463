package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Fixed test values.
const (
	testSubject  = "user-42"
	testUser     = "alice"
	testPassword = "correct horse battery staple"
	loopbackCB   = "http://localhost/callback" // registered; requested with an ephemeral port
	otherRes     = "https://mcp.example.com/mcp"
)

// env is a running provider over real HTTP on a real store.
type env struct {
	t        *testing.T
	store    *gormstore.Store
	p        *provider.Provider
	srv      *httptest.Server
	base     string       // http://127.0.0.1:port
	issuer   string       // base + "/oauth"
	resource string       // base + "/mcp"
	http     *http.Client // does not follow redirects

	public     *provider.Client // public client with a loopback redirect URI
	conf       *provider.Client // confidential client (client_secret_basic)
	confSecret string
	rs         *provider.Client // confidential client of a resource server (introspection)
	rsSecret   string
}

type envOption func(e *env, cfg *provider.Config)

// withLogin uses the built-in login page with a test authenticator instead of AutoApprove.
func withLogin() envOption {
	return func(_ *env, cfg *provider.Config) {
		cfg.AutoApprove = nil
		cfg.Authenticator = provider.AuthenticatorFunc(func(_ context.Context, u, pw string) (string, error) {
			if u == testUser && pw == testPassword {
				return testSubject, nil
			}
			return "", errors.New("bad credentials")
		})
	}
}

// newEnv starts a provider with issuer {base}/oauth on s.
func newEnv(t *testing.T, s *gormstore.Store, opts ...envOption) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	e := &env{
		t: t, store: s, srv: srv, base: base,
		issuer:   base + "/oauth",
		resource: base + "/mcp",
		http:     &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	cfg := provider.Config{
		Issuer:       e.issuer,
		Storage:      s,
		GlobalSecret: []byte("0123456789abcdef0123456789abcdef-test"),
		Scopes:       []string{"read", "write"},
		Resources:    []string{e.resource, otherRes},
		AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) {
			return testSubject, true
		},
		EnableClientCredentials: true,
		Logger:                  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(e, &cfg)
	}
	p, err := provider.New(cfg)
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	e.p = p
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	ctx := context.Background()
	if e.public, _, err = p.CreateClient(ctx, provider.ClientSpec{
		ID: "public-app", Name: "Public App", Public: true,
		RedirectURIs: []string{loopbackCB, "com.example.app:/oauth2redirect"},
	}); err != nil {
		t.Fatal(err)
	}
	if e.conf, e.confSecret, err = p.CreateClient(ctx, provider.ClientSpec{
		ID: "web-app", Name: "Web App", RedirectURIs: []string{"https://app.example.com/cb?tenant=1"},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
	}); err != nil {
		t.Fatal(err)
	}
	if e.rs, e.rsSecret, err = p.CreateClient(ctx, provider.ClientSpec{
		ID: "resource-server", GrantTypes: []string{"client_credentials"},
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// oauthConfig returns an x/oauth2 config for the public client on redirect.
func (e *env) oauthConfig(redirect string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    e.public.ID,
		Endpoint:    oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      scopes,
	}
}

// ctx returns a context whose x/oauth2 HTTP client talks to the test server.
func (e *env) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
}

// get performs a GET without following redirects.
func (e *env) get(u string) *http.Response {
	e.t.Helper()
	resp, err := e.http.Get(u)
	if err != nil {
		e.t.Fatalf("GET %s: %v", u, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// postForm posts form to u with optional Basic credentials.
func (e *env) postForm(u string, form url.Values, user, pass string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) *http.Response {
	e.t.Helper()
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// location returns the parsed Location of a 303 response.
func location(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want 303; body %s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// authorize runs an authorization request with PKCE for the public client and returns
// the final redirect (to the client) parsed. extra adds or overrides parameters.
type authzResult struct {
	redirect *url.URL
	verifier string
}

func (e *env) authorizeParams(redirect string, extra url.Values) (url.Values, string) {
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {e.public.ID},
		"redirect_uri":          {redirect},
		"scope":                 {"read"},
		"state":                 {"st-123"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {e.resource},
	}
	for k, v := range extra {
		if len(v) == 0 {
			delete(q, k)
		} else {
			q[k] = v
		}
	}
	return q, verifier
}

// authorize sends an authorization request (auto-approved) and returns the client redirect.
func (e *env) authorize(redirect string, extra url.Values) authzResult {
	e.t.Helper()
	q, verifier := e.authorizeParams(redirect, extra)
	resp := e.get(e.issuer + "/authorize?" + q.Encode())
	loc := location(e.t, resp)
	if id := loc.Query().Get(provider.LoginRequestParam); id != "" && strings.HasPrefix(loc.String(), e.issuer+"/login?") {
		// The built-in login page: approve through the consent API, from the browser.
		browser := browserRequest(loc.String(), resp.Cookies()...)
		req, err := e.p.AuthorizationRequest(browser, id)
		if err != nil {
			e.t.Fatal(err)
		}
		u, err := e.p.Approve(browser, id, testSubject, req.Scopes)
		if err != nil {
			e.t.Fatal(err)
		}
		if loc, err = url.Parse(u); err != nil {
			e.t.Fatal(err)
		}
	}
	return authzResult{redirect: loc, verifier: verifier}
}

// pending sends the authorization request q, which must go to the login page, and
// returns the pending request's ID and a request to the login page from the browser
// that sent it (carrying the browser-binding cookie), for the consent API.
func (e *env) pending(q url.Values) (string, *http.Request) {
	e.t.Helper()
	resp := e.get(e.issuer + "/authorize?" + q.Encode())
	loc := location(e.t, resp)
	id := loc.Query().Get(provider.LoginRequestParam)
	if id == "" {
		e.t.Fatalf("not sent to the login page: %s", loc)
	}
	return id, browserRequest(loc.String(), resp.Cookies()...)
}

// browserRequest is a GET of u from a browser holding cookies.
func browserRequest(u string, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, u, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// bindingCookie returns the browser-binding cookie an authorization response set.
func bindingCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "fosite_mcp_authz_") || strings.HasPrefix(c.Name, "__Secure-fosite_mcp_authz_") {
			return c
		}
	}
	t.Fatalf("no browser-binding cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

// code runs authorize and returns the code, failing on error redirects.
func (e *env) code(redirect string, extra url.Values) (code, verifier string) {
	e.t.Helper()
	r := e.authorize(redirect, extra)
	q := r.redirect.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		e.t.Fatalf("authorize redirect %s: no code", r.redirect)
	}
	return q.Get("code"), r.verifier
}

// tokenResponse is the token endpoint's JSON.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	return v
}

// exchange redeems code for the public client.
func (e *env) exchange(code, verifier, redirect string, extra url.Values) (*http.Response, tokenResponse) {
	e.t.Helper()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {redirect},
		"client_id":     {e.public.ID},
	}
	for k, v := range extra {
		if len(v) == 0 {
			delete(form, k)
		} else {
			form[k] = v
		}
	}
	resp := e.postForm(e.issuer+"/token", form, "", "")
	return resp, decode[tokenResponse](e.t, resp)
}

// tokens runs a full authorization and code exchange for the public client.
func (e *env) tokens(extra url.Values) tokenResponse {
	e.t.Helper()
	redirect := "http://localhost:50123/callback"
	code, verifier := e.code(redirect, extra)
	resp, tok := e.exchange(code, verifier, redirect, nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token: %d %+v", resp.StatusCode, tok)
	}
	return tok
}

// refresh uses a refresh token of the public client.
func (e *env) refresh(rt string, extra url.Values) (*http.Response, tokenResponse) {
	e.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.public.ID}}
	for k, v := range extra {
		form[k] = v
	}
	resp := e.postForm(e.issuer+"/token", form, "", "")
	return resp, decode[tokenResponse](e.t, resp)
}

// introspection is the RFC 7662 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Sub       string   `json:"sub"`
	Aud       []string `json:"aud"`
	Iss       string   `json:"iss"`
	Exp       int64    `json:"exp"`
	Iat       int64    `json:"iat"`
	TokenType string   `json:"token_type"`
	TokenUse  string   `json:"token_use"`
}

// introspect asks the introspection endpoint as the resource server.
func (e *env) introspect(token string) introspection {
	e.t.Helper()
	resp := e.postForm(e.issuer+"/introspect", url.Values{"token": {token}}, e.rs.ID, e.rsSecret)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("introspect: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("introspection Cache-Control = %q, want no-store", cc)
	}
	return decode[introspection](e.t, resp)
}

// errorResponse is an RFC 6749 §5.2 error.
type errorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// wantJSONError checks status and error code of a JSON error response.
func wantJSONError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	var er errorResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if er.Error != code {
		t.Errorf("error %q, want %q (%s)", er.Error, code, er.Description)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

// runEnv runs fn on both databases with a fresh env.
func runEnv(t *testing.T, fn func(t *testing.T, e *env), opts ...envOption) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		fn(t, newEnv(t, s, opts...))
	})
}
