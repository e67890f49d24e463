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
	a, _ := c.authorize(r.Base, reg.ClientID)
	loc, err := url.Parse(a.Location)
	if err != nil || loc.Query().Get(provider.LoginRequestParam) == "" {
		t.Fatalf("%v; want a redirect to the login page", a)
	}
	id := loc.Query().Get(provider.LoginRequestParam)

	// The page sets the CSRF cookie and token.
	resp, err := c.http.Get(r.Base + provider.LoginPath + "?" + loc.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindStringSubmatch(string(body))
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusOK || m == nil || len(cookies) == 0 {
		t.Fatalf("login page: %d, %d cookies, CSRF token found: %v", resp.StatusCode, len(cookies), m != nil)
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
