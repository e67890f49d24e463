package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
)

// appsPage is a browser (cookie jar) on the Connected apps page.
type appsPage struct {
	t      *testing.T
	demo   *testDemo
	http   *http.Client
	page   string
	status int
}

func (a *appsPage) do(resp *http.Response, err error) *http.Response {
	a.t.Helper()
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	a.page, a.status = string(b), resp.StatusCode
	return resp
}

func (a *appsPage) get(query string) *http.Response {
	return a.do(a.http.Get(a.demo.url + connectedAppsPath + query))
}

func (a *appsPage) post(form url.Values) *http.Response {
	return a.do(a.http.PostForm(a.demo.url+connectedAppsPath, form))
}

// csrf returns the CSRF token of the last page.
func (a *appsPage) csrf() string {
	a.t.Helper()
	return (&flow{t: a.t, page: a.page}).csrf()
}

// signIn opens the page in a fresh browser and signs in as user.
func signIn(t *testing.T, demo *testDemo, user, password string) *appsPage {
	t.Helper()
	a := &appsPage{t: t, demo: demo, http: pageClient(t)}
	a.get("")
	if a.status != http.StatusOK || !strings.Contains(a.page, `value="login"`) {
		t.Fatalf("signed out: %d, no sign-in form:\n%s", a.status, a.page)
	}
	resp := a.post(url.Values{"csrf_token": {a.csrf()}, "action": {"login"}, "username": {user}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d\n%s", resp.StatusCode, a.page)
	}
	a.get("")
	if a.status != http.StatusOK || !strings.Contains(a.page, "Connected apps") {
		t.Fatalf("after sign-in: %d\n%s", a.status, a.page)
	}
	return a
}

// approveAs runs an authorization request of c through the pages as user and redeems the code.
func approveAs(t *testing.T, demo *testDemo, c registeredClient, user, password string) map[string]any {
	t.Helper()
	f := startFlow(t, demo, demo.authorizeURL(c, "st", ""))
	f.login(user, password)
	return demo.exchange(t, c, f.decide("approve").Query().Get("code"))
}

// The Connected apps page refuses forged and cross-user revocations and bad input, each
// with an error page (never a 500): a POST without the page's CSRF token, with another
// session's token, signed out, or naming another user's grant changes nothing.
func TestConnectedAppsForgedAndForeignRevocationsRefused(t *testing.T) {
	demo := startDemo(t, demoOptions{rateLimits: &mcp.RateLimits{Disabled: true}})
	c := demo.register(t, "Alice's App", "http://127.0.0.1:9/cb", nil)
	tok := approveAs(t, demo, c, "alice", "wonderland")
	access, _ := tok["access_token"].(string)

	alice := signIn(t, demo, "alice", "wonderland")
	if !strings.Contains(alice.page, "Alice&#39;s App") {
		t.Fatalf("alice's page does not list her app:\n%s", alice.page)
	}
	grant := strings.SplitN(strings.SplitN(alice.page, `name="grant" value="`, 2)[1], `"`, 2)[0]
	approveAs(t, demo, demo.register(t, "Bob's App", "http://127.0.0.1:9/cb", nil), "bob", "can-we-fix-it")
	bob := signIn(t, demo, "bob", "can-we-fix-it")
	if strings.Contains(bob.page, "Alice&#39;s App") {
		t.Errorf("bob's page lists alice's app")
	}

	for name, form := range map[string]url.Values{
		"no token":                 {"action": {"revoke"}, "grant": {grant}},
		"another session's token":  {"action": {"revoke"}, "grant": {grant}, "csrf_token": {bob.csrf()}},
		"revoke-all without token": {"action": {"revoke-all"}},
	} {
		if alice.post(form); alice.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, alice.status)
		}
	}
	// Bob names alice's grant with his own valid token: it is not his, nothing happens.
	bobToken := bob.csrf()
	if resp := bob.post(url.Values{"action": {"revoke"}, "grant": {grant}, "csrf_token": {bobToken}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bob revoking alice's grant: %d", resp.StatusCode)
	}
	if resp := bob.post(url.Values{"action": {"revoke-all"}, "csrf_token": {bobToken}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bob revoking all his grants: %d", resp.StatusCode)
	}
	// Signed out (a fresh browser with an anonymous session's valid token).
	anon := &appsPage{t: t, demo: demo, http: pageClient(t)}
	anon.get("")
	if resp := anon.post(url.Values{"action": {"revoke-all"}, "csrf_token": {anon.csrf()}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed-out revoke-all: %d", resp.StatusCode)
	}
	if _, err := demo.server.as.Provider().VerifyAccessToken(t.Context(), access); err != nil {
		t.Fatalf("alice's token was revoked by a forged or foreign request: %v", err)
	}

	alice.get("")
	for name, check := range map[string]func() int{
		"unknown action": func() int {
			alice.post(url.Values{"action": {"nope"}, "csrf_token": {alice.csrf()}})
			return alice.status
		},
		"bad page cursor": func() int { alice.get("?after=%ff"); return alice.status },
		"wrong password": func() int {
			anon.get("") // a fresh sign-in form (its last response was a redirect)
			anon.post(url.Values{"action": {"login"}, "csrf_token": {anon.csrf()}, "username": {"alice"}, "password": {"x"}})
			return anon.status
		},
		"JSON instead of a form": func() int {
			return alice.do(alice.http.Post(demo.url+connectedAppsPath, "application/json", strings.NewReader(`{}`))).StatusCode
		},
	} {
		if status := check(); status < 400 || status >= 500 {
			t.Errorf("%s: %d, want a 4xx page", name, status)
		}
		alice.get("")
		anon.get("")
	}

	// Alice revokes it herself: her token is refused at once.
	alice.get("")
	if resp := alice.post(url.Values{"action": {"revoke"}, "grant": {grant}, "csrf_token": {alice.csrf()}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice revoking: %d\n%s", resp.StatusCode, alice.page)
	}
	if _, err := demo.server.as.Provider().VerifyAccessToken(t.Context(), access); err == nil {
		t.Error("alice's token still verifies after she revoked the app")
	}
	alice.get("?done=revoked")
	if !strings.Contains(alice.page, "Access revoked") || strings.Contains(alice.page, "Alice&#39;s App") {
		t.Errorf("after revoking:\n%s", alice.page)
	}
}
