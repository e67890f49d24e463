package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestIssue14Finding8_NotYouRefusesOldCookie: after "Not you?" the session cookie
// captured before it is refused — by this server and by another replica sharing the
// database — on SQLite and PostgreSQL. Before the fix the stateless cookie kept working
// for its 8 hours.
func TestIssue14Finding8_NotYouRefusesOldCookie(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		demo := startDemo(t, demoOptions{db: db})
		replica := startDemo(t, demoOptions{db: db, secretsPath: demo.cfg.SecretsPath})
		c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)

		f := startFlow(t, demo, demo.authorizeURL(c, "s", ""))
		f.login("alice", "wonderland")
		stolen := cookieNamed(t, f.http, demo.url, sessionCookie)

		// The captured cookie works in another browser, on either replica: the test can fail.
		onReplica := startFlow(t, replica, replica.authorizeURL(c, "r", ""))
		onReplica.http.Jar.SetCookies(mustParseURL(t, replica.url), []*http.Cookie{stolen})
		onReplica.get(replica.url + consentPath + "?" + url.Values{authRequestParam: {onReplica.id}}.Encode())
		if !strings.Contains(onReplica.page, `value="approve"`) {
			t.Fatalf("a live session cookie on the replica: %d, no consent page:\n%s", onReplica.status, onReplica.page)
		}
		aliceToken := onReplica.csrf()

		// "Not you?"
		resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {"switch"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("switch: %d\n%s", resp.StatusCode, f.page)
		}
		if ck := cookieNamed(t, f.http, demo.url, sessionCookie); ck.Value == stolen.Value {
			t.Fatal("the session cookie was not replaced")
		}

		for name, fl := range map[string]*flow{"same server": f, "replica": onReplica} {
			u := mustParseURL(t, fl.demo.url)
			fl.http.Jar.SetCookies(u, []*http.Cookie{stolen})
			fl.get(fl.demo.url + consentPath + "?" + url.Values{authRequestParam: {fl.id}}.Encode())
			if fl.status != http.StatusOK || !strings.Contains(fl.page, `name="password"`) || strings.Contains(fl.page, `value="approve"`) {
				t.Errorf("%s: the logged-out cookie still shows the consent page: %d\n%s", name, fl.status, fl.page)
			}
		}
		// Approving with the logged-out cookie and a token taken while it was live fails.
		onReplica.http.Jar.SetCookies(mustParseURL(t, replica.url), []*http.Cookie{stolen})
		resp = onReplica.post(url.Values{authRequestParam: {onReplica.id}, "csrf_token": {aliceToken}, "action": {"approve"}})
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Fatalf("approve with the logged-out cookie: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// Logging in again works.
		f.get(demo.url + consentPath + "?" + url.Values{authRequestParam: {f.id}}.Encode())
		f.login("bob", "can-we-fix-it")
		if q := f.decide("approve").Query(); q.Get("code") == "" {
			t.Fatalf("approval after logging in again: %v", q)
		}
	})
}

// cookieNamed returns the cookie name that client's jar holds for u.
func cookieNamed(t *testing.T, client *http.Client, u, name string) *http.Cookie {
	t.Helper()
	for _, c := range client.Jar.Cookies(mustParseURL(t, u)) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie for %s", name, u)
	return nil
}

// TestIssue14Finding12_DemoLoginAttemptsPerRequest: the demo's login form counts wrong
// passwords against the pending request too (provider.LoginAttempt): the fifth cancels
// it with a clear page, and the right password afterwards does not log in.
func TestIssue14Finding12_DemoLoginAttemptsPerRequest(t *testing.T) {
	demo := startDemo(t, demoOptions{rateLimits: &mcp.RateLimits{Disabled: true}})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "s", ""))
	for i := 1; i <= provider.DefaultMaxLoginAttempts; i++ {
		resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {"login"}, "username": {"alice"}, "password": {"guess"}})
		want := http.StatusUnauthorized
		if i == provider.DefaultMaxLoginAttempts {
			want = http.StatusForbidden
		}
		if resp.StatusCode != want || resp.Header.Get("Location") != "" {
			t.Fatalf("wrong password %d: %d, want %d\n%s", i, resp.StatusCode, want, f.page)
		}
	}
	mustContain(t, "the page after the last wrong password", f.page, "Too many wrong passwords")
	token := loginToken(demo, f)
	resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {token}, "action": {"login"}, "username": {"alice"}, "password": {"wonderland"}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("the right password after the limit logged in: %s", resp.Header.Get("Location"))
	}
}
