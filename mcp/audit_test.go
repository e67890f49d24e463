package mcp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/ratelimit"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// flowServer is newServer with the built-in login page instead of auto-approval, open
// registration (with client_credentials and the device grant), client ID metadata
// documents, opaque tokens and no refresh grace window; everything it logs goes to logs.
type flowServer struct {
	base     string
	auth     *mcp.Server
	password string
	close    func() // waits for the requests in flight
}

func newFlowServer(t *testing.T, store *gormstore.Store, logs io.Writer, edit func(*mcp.Config)) *flowServer {
	t.Helper()
	const password = "correct-horse-battery-staple-7"
	strict := compat.Default()
	strict.RefreshGrace = compat.RefreshGrace{} // reuse of a rotated refresh token revokes at once
	srv, base, auth := newServer(t, store, func(cfg *mcp.Config) {
		cfg.Provider.AutoApprove = nil // the built-in login page
		cfg.Provider.Authenticator = provider.AuthenticatorFunc(func(_ context.Context, user, pass string) (string, error) {
			if user == "alice" && pass == password {
				return "alice", nil
			}
			return "", errors.New("wrong username or password")
		})
		cfg.Provider.EnableClientCredentials = true
		cfg.Provider.DeviceAuthorization = &provider.DeviceAuthorizationOptions{}
		cfg.Provider.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.Compat = &strict
		cfg.Registration = &registration.Options{
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials", provider.GrantTypeDeviceCode},
		}
		cfg.ClientIDMetadataDocuments = &mcp.ClientIDMetadataDocuments{Enabled: true}
		cfg.RateLimits = &mcp.RateLimits{
			Registration:  ratelimit.PerMinute(100, 100),
			Introspection: ratelimit.PerMinute(1, 1),
		}
		if edit != nil {
			edit(cfg)
		}
	})
	return &flowServer{base: base, auth: auth, password: password, close: srv.Close}
}

// flowClient runs OAuth flows against a flowServer and remembers every secret it saw
// (tokens, codes, verifiers, passwords, client secrets, registration access tokens,
// device and user codes, CSRF tokens).
type flowClient struct {
	t       *testing.T
	s       *flowServer
	secrets []string
}

func (c *flowClient) secret(vals ...string) {
	for _, v := range vals {
		if v != "" {
			c.secrets = append(c.secrets, v)
		}
	}
}

// do sends req and decodes a JSON answer into v (when non-nil).
func (c *flowClient) do(hc *http.Client, req *http.Request, v any) *http.Response {
	c.t.Helper()
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			c.t.Fatalf("%s %s: %d %q: %v", req.Method, req.URL, resp.StatusCode, body, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

func (c *flowClient) form(path string, form url.Values, basicUser, basicPass string, v any) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return c.do(nil, req, v)
}

type regResponse struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	Error                   string `json:"error"`
}

func (c *flowClient) register(meta map[string]any) regResponse {
	c.t.Helper()
	body, _ := json.Marshal(meta)
	req, _ := http.NewRequest(http.MethodPost, c.s.base+"/register", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	var out regResponse
	if resp := c.do(nil, req, &out); resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("registration: %d %s", resp.StatusCode, out.Error)
	}
	c.secret(out.ClientSecret, out.RegistrationAccessToken)
	return out
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

func (c *flowClient) token(form url.Values, user, pass string) (int, tokenResponse) {
	c.t.Helper()
	var out tokenResponse
	resp := c.form("/token", form, user, pass, &out)
	c.secret(out.AccessToken, out.RefreshToken)
	return resp.StatusCode, out
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// authorize starts a code flow with PKCE for clientID in a fresh browser and returns the
// browser, the login page URL, its CSRF token and the verifier.
func (c *flowClient) authorize(clientID, redirect string) (*http.Client, string, string, string) {
	c.t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := strings.Repeat("v", 20) + base64.RawURLEncoding.EncodeToString([]byte(clientID))[:20] + "-audit-verifier"
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"tools"},
		"state": {"st-123456789"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "resource": {c.s.base + "/mcp"},
	}
	req, _ := http.NewRequest(http.MethodGet, c.s.base+"/authorize?"+q.Encode(), nil)
	resp := c.do(browser, req, nil)
	login := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || login == "" {
		c.t.Fatalf("authorize: %d, Location %q", resp.StatusCode, login)
	}
	if strings.HasPrefix(login, "/") {
		login = c.s.base + login
	}
	req, _ = http.NewRequest(http.MethodGet, login, nil)
	page, _ := io.ReadAll(c.do(browser, req, nil).Body)
	m := csrfField.FindSubmatch(page)
	if m == nil {
		c.t.Fatalf("no CSRF token on the login page: %s", page)
	}
	c.secret(verifier, string(m[1]))
	for _, ck := range jar.Cookies(req.URL) {
		c.secret(ck.Value)
	}
	return browser, login, string(m[1]), verifier
}

// decide posts the login form.
func (c *flowClient) decide(browser *http.Client, login, csrf string, form url.Values) *http.Response {
	c.t.Helper()
	u, _ := url.Parse(login)
	form.Set(provider.LoginRequestParam, u.Query().Get(provider.LoginRequestParam))
	form.Set("csrf_token", csrf)
	req, _ := http.NewRequest(http.MethodPost, c.s.base+u.Path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(browser, req, nil)
}

// runEveryFlow runs every flow the audit trail covers and returns the secrets it used.
func runEveryFlow(t *testing.T, s *flowServer) []string {
	c := &flowClient{t: t, s: s}
	c.secret(s.password)
	const redirect = "http://127.0.0.1/cb"

	// RFC 7591 registration, RFC 7592 update and delete.
	pub := c.register(map[string]any{"client_name": "Audit", "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}})
	doomed := c.register(map[string]any{"client_name": "Doomed", "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"})
	body, _ := json.Marshal(map[string]any{"client_id": doomed.ClientID, "client_name": "Doomed 2", "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"})
	req, _ := http.NewRequest(http.MethodPut, doomed.RegistrationClientURI, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+doomed.RegistrationAccessToken)
	var updated regResponse
	if resp := c.do(nil, req, &updated); resp.StatusCode != http.StatusOK {
		t.Fatalf("RFC 7592 update: %d %s", resp.StatusCode, updated.Error)
	}
	c.secret(updated.RegistrationAccessToken)
	req, _ = http.NewRequest(http.MethodDelete, doomed.RegistrationClientURI, nil)
	req.Header.Set("Authorization", "Bearer "+updated.RegistrationAccessToken)
	if resp := c.do(nil, req, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("RFC 7592 delete: %d", resp.StatusCode)
	}

	// Code flow with PKCE through the login page: a wrong password, then the right one.
	browser, login, csrf, verifier := c.authorize(pub.ClientID, redirect)
	wrong := "Tr0ub4dor&3-wrong"
	c.secret(wrong)
	if resp := c.decide(browser, login, csrf, url.Values{"action": {"approve"}, "username": {"alice"}, "password": {wrong}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp := c.decide(browser, login, csrf, url.Values{"action": {"approve"}, "username": {"alice"}, "password": {s.password}})
	back, _ := url.Parse(resp.Header.Get("Location"))
	code := back.Query().Get("code")
	if resp.StatusCode != http.StatusSeeOther || code == "" {
		t.Fatalf("login: %d, Location %q", resp.StatusCode, back)
	}
	c.secret(code)
	st, first := c.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirect}, "client_id": {pub.ClientID}, "resource": {s.base + "/mcp"}}, "", "")
	if st != http.StatusOK {
		t.Fatalf("code exchange: %d %s", st, first.Error)
	}

	// The MCP endpoint accepts the token.
	req, _ = http.NewRequest(http.MethodPost, s.base+"/mcp", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+first.AccessToken)
	if resp := c.do(nil, req, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("MCP call: %d", resp.StatusCode)
	}

	// Refresh, then reuse of the rotated refresh token (the grant is revoked).
	st, second := c.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {pub.ClientID}}, "", "")
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %s", st, second.Error)
	}
	if st, reuse := c.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {pub.ClientID}}, "", ""); st != http.StatusBadRequest || reuse.Error != "invalid_grant" {
		t.Fatalf("refresh token reuse: %d %s, want invalid_grant", st, reuse.Error)
	}

	// A denied consent.
	browser, login, csrf, _ = c.authorize(pub.ClientID, redirect)
	if resp := c.decide(browser, login, csrf, url.Values{"action": {"deny"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("deny: %d", resp.StatusCode)
	}

	// client_credentials with a registered secret, then RFC 7009 revocation.
	conf := c.register(map[string]any{"client_name": "Backend", "token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"client_credentials"}, "scope": "tools"})
	st, cc := c.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"tools"}}, conf.ClientID, conf.ClientSecret)
	if st != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", st, cc.Error)
	}
	if resp := c.form("/revoke", url.Values{"token": {cc.AccessToken}, "token_type_hint": {"access_token"}}, conf.ClientID, conf.ClientSecret, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: %d", resp.StatusCode)
	}

	// Device flow (RFC 8628).
	dev := c.register(map[string]any{"client_name": "TV", "token_endpoint_auth_method": "none",
		"grant_types": []string{provider.GrantTypeDeviceCode, "refresh_token"}})
	var d struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	if resp := c.form("/device_authorization", url.Values{"client_id": {dev.ClientID}}, "", "", &d); resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization: %d", resp.StatusCode)
	}
	c.secret(d.DeviceCode, d.UserCode)
	dreq, err := s.auth.Provider().DeviceRequest(t.Context(), d.UserCode)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.auth.Provider().ApproveDevice(t.Context(), d.UserCode, "alice", dreq.Scopes); err != nil {
		t.Fatal(err)
	}
	if st, dt := c.token(url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {dev.ClientID}}, "", ""); st != http.StatusOK {
		t.Fatalf("device token: %d %s", st, dt.Error)
	}

	// A client ID metadata document on a loopback address: refused by the SSRF guard.
	q := url.Values{"response_type": {"code"}, "client_id": {"https://127.0.0.1/client.json"}, "redirect_uri": {redirect},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	req, _ = http.NewRequest(http.MethodGet, s.base+"/authorize?"+q.Encode(), nil)
	if resp := c.do(nil, req, nil); resp.StatusCode < 400 {
		t.Fatalf("CIMD client on a loopback address: %d, want an error page", resp.StatusCode)
	}

	// Rate limit: the second introspection request within the minute is refused.
	for range 2 {
		c.form("/introspect", url.Values{"token": {"x"}}, "", "", nil)
	}
	if resp := c.form("/introspect", url.Values{"token": {"x"}}, "", "", nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("introspection over its limit: %d, want 429", resp.StatusCode)
	}
	return c.secrets
}

// The audit trail: every flow (registration with RFC 7592 update and delete, code with
// PKCE through a failed and a successful login, refresh and refresh token reuse,
// consent denial, client_credentials, RFC 7009 revocation, the RFC 8628 device flow, a
// CIMD fetch refused by the SSRF guard, a rate limit) writes its audit.* events, and
// nothing the server logs contains any token, code, verifier, secret, password, CSRF
// token, cookie or device/user code the flows used.
func TestAudit_EveryFlowLogsEventsAndNoSecret(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		var logs bytes.Buffer // slog's handlers serialize their writes
		s := newFlowServer(t, store, &logs, func(c *mcp.Config) { c.Provider.Audit = &observe.AuditOptions{} })
		secrets := runEveryFlow(t, s)
		s.close() // every request done: nothing writes to logs any more
		out := logs.String()
		for _, sec := range secrets {
			if strings.Contains(out, sec) {
				t.Errorf("the logs contain a secret the flows used (%d bytes, starting %.4q)", len(sec), sec)
			}
		}
		seen := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			msg, _ := rec["msg"].(string)
			if !strings.HasPrefix(msg, observe.AuditPrefix) {
				continue
			}
			seen[msg] = true
			if rec["level"] != "INFO" {
				t.Errorf("%s logged at %v, want INFO", msg, rec["level"])
			}
		}
		for _, k := range observe.Kinds() {
			if !k.Audited() || k == observe.GrantRevoked || k == observe.ConsentRemembered { // the grants API reports these
				continue
			}
			if name := observe.AuditPrefix + k.String(); !seen[name] {
				t.Errorf("no %s event; saw %v", name, seen)
			}
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("logs:\n%s", out)
		}
	})
}
