package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// sessionOf returns the demo session f's browser holds.
func sessionOf(demo *testDemo, f *flow) session {
	u := mustParseURL(f.t, demo.url)
	for _, c := range f.http.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			r := httptest.NewRequest(http.MethodGet, demo.url, nil)
			r.AddCookie(c)
			if sess, ok, err := pagesOf(demo).sessions.get(r); err == nil && ok {
				return sess
			}
		}
	}
	f.t.Fatal("the browser has no demo session")
	return session{}
}

// TestIssue14Finding7_ConsentPageRefusesOtherBrowser: another logged-in user who learns a
// pending request's ID can neither see nor approve it from their browser — not even with
// a CSRF token valid for their session — so they cannot put their identity into the
// victim's client. The victim's own browser then approves as usual.
func TestIssue14Finding7_ConsentPageRefusesOtherBrowser(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	victim := startFlow(t, demo, demo.authorizeURL(c, "victim-state", ""))

	attacker := startFlow(t, demo, demo.authorizeURL(c, "attacker-state", ""))
	attacker.login("bob", "can-we-fix-it")
	attacker.get(demo.url + consentPath + "?" + url.Values{authRequestParam: {victim.id}}.Encode())
	if attacker.status != http.StatusForbidden || strings.Contains(attacker.page, `value="approve"`) || !strings.Contains(attacker.page, "another browser") {
		t.Fatalf("victim's request in the attacker's browser: %d\n%s", attacker.status, attacker.page)
	}
	forged := pagesOf(demo).sessions.csrfToken(sessionOf(demo, attacker), "consent\x00"+victim.id)
	for _, action := range []string{"approve", "deny"} {
		resp := attacker.post(url.Values{authRequestParam: {victim.id}, "csrf_token": {forged}, "action": {action}})
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(attacker.page, "another browser") {
			t.Fatalf("%s from the attacker's browser: %d, Location %q\n%s", action, resp.StatusCode, resp.Header.Get("Location"), attacker.page)
		}
	}

	victim.login("alice", "wonderland")
	q := victim.decide("approve").Query()
	if q.Get("state") != "victim-state" || q.Get("code") == "" {
		t.Fatalf("victim's approval: %v", q)
	}
	tok := demo.exchange(t, c, q.Get("code"))
	at, err := demo.server.as.VerifyAccessToken(context.Background(), tok["access_token"].(string))
	if err != nil || at.Subject != "alice" {
		t.Fatalf("the victim's token: %+v %v; want subject alice", at, err)
	}
}

// TestConsentPages_AnswerClearsBindingCookie: once the user approved or denied, the
// pending request is spent and its browser-binding cookie is useless: the answer expires
// it (Set-Cookie with Max-Age=0, RFC 6265 §5.2.2), so answered requests leave no cookies
// in the browser.
func TestConsentPages_AnswerClearsBindingCookie(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	for _, action := range []string{"deny", "approve"} { // an approval is remembered: deny first
		t.Run(action, func(t *testing.T) {
			f := startFlow(t, demo, demo.authorizeURL(c, "st-"+action, ""))
			binding := func() *http.Cookie {
				for _, ck := range f.http.Jar.Cookies(mustParseURL(t, demo.url+consentPath)) {
					if strings.Contains(ck.Name, "fosite_mcp_authz_") {
						return ck
					}
				}
				return nil
			}
			if binding() == nil {
				t.Fatal("the authorization request set no binding cookie")
			}
			f.login("alice", "wonderland")
			resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {action}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: %d\n%s", action, resp.StatusCode, f.page)
			}
			cleared := false
			for _, h := range resp.Header.Values("Set-Cookie") {
				if strings.Contains(h, "fosite_mcp_authz_") && strings.Contains(h, "Max-Age=0") && strings.Contains(h, "Path="+consentPath) {
					cleared = true
				}
			}
			if !cleared {
				t.Errorf("%s answered without expiring the binding cookie; Set-Cookie: %q", action, resp.Header.Values("Set-Cookie"))
			}
			if ck := binding(); ck != nil {
				t.Errorf("the browser still holds %s after %s", ck.Name, action)
			}
		})
	}
}
