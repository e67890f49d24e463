package faults_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// TestIssue14_LoginPageDuringLock: the built-in login and consent page, submitted while
// the SQLite file is locked past the busy timeout, answers a 503 page with Retry-After
// (it answered 500) and leaves the pending request usable: submitted again after the
// lock, it approves and redirects with a code.
func TestIssue14_LoginPageDuringLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	r := newReplica(t, openSQLite(t, path, "", true), nil, func(cfg *mcp.Config) {
		cfg.Provider.AutoApprove = nil
		cfg.Provider.Authenticator = provider.AuthenticatorFunc(func(_ context.Context, user, pass string) (string, error) {
			if user == "alice" && pass == "wonderland" {
				return "alice", nil
			}
			return "", errors.New("wrong credentials")
		})
	})
	c := newClient(resourceURL)
	reg := c.register(r.Base)
	id, cookies := c.pendingInBrowser(t, r.Base, reg.ClientID)

	// The page shows the CSRF token derived from the browser-binding cookie.
	req, _ := http.NewRequest(http.MethodGet, r.Base+provider.LoginPath+"?"+url.Values{provider.LoginRequestParam: {id}}.Encode(), nil)
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("login page: %d, CSRF token found: %v", resp.StatusCode, m != nil)
	}
	submit := func() reply {
		form := url.Values{provider.LoginRequestParam: {id}, "csrf_token": {m[1]}, "action": {"approve"},
			"username": {"alice"}, "password": {"wonderland"}}
		req, _ := http.NewRequest(http.MethodPost, r.Base+provider.LoginPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		return c.do("login", req)
	}

	release := lockSQLite(t, path)
	if got := submit(); !got.unavailable() || !strings.Contains(got.Body, "<html") {
		t.Errorf("login submitted while locked: %v; want a 503 page with Retry-After", got)
	}
	release()
	if got := submit(); !got.ok() {
		t.Errorf("login submitted after the lock: %v; want the redirect with a code", got)
	}
}

// pendingInBrowser sends an authorization request for clientID to base as a browser
// would and returns the pending request's ID and the cookies the authorization endpoint
// set (the browser binding that the login page and the consent API check).
func (c *client) pendingInBrowser(t *testing.T, base, clientID string) (string, []*http.Cookie) {
	t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI}, "scope": {scope},
		"state": {"state-in-browser"}, "resource": {c.resource},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	resp, err := c.http.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Query().Get(provider.LoginRequestParam) == "" || len(resp.Cookies()) == 0 {
		t.Fatalf("authorize: %d %q, %d cookies; want a redirect to the login page and the binding cookie",
			resp.StatusCode, resp.Header.Get("Location"), len(resp.Cookies()))
	}
	return u.Query().Get(provider.LoginRequestParam), resp.Cookies()
}
