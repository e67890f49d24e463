package main

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// flow walks one authorization request through the pages with a cookie jar.
type flow struct {
	t      *testing.T
	demo   *testDemo
	http   *http.Client
	id     string // auth_request
	page   string // last page body
	status int
}

// startFlow sends the browser to the authorization endpoint and follows it to the
// login page.
func startFlow(t *testing.T, demo *testDemo, authorizeURL string) *flow {
	t.Helper()
	return startFlowIn(t, demo, authorizeURL, pageClient(t))
}

// startFlowIn is startFlow in the browser (cookie jar) of client.
func startFlowIn(t *testing.T, demo *testDemo, authorizeURL string, client *http.Client) *flow {
	t.Helper()
	f := &flow{t: t, demo: demo, http: client}
	resp := f.get(authorizeURL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %d %s", resp.StatusCode, f.page)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Path != consentPath {
		t.Fatalf("authorize redirected to %q, want the consent page", resp.Header.Get("Location"))
	}
	f.id = loc.Query().Get(authRequestParam)
	f.get(demo.url + consentPath + "?" + loc.RawQuery)
	return f
}

func (f *flow) get(u string) *http.Response {
	f.t.Helper()
	resp, err := f.http.Get(u)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f.page, f.status = string(b), resp.StatusCode
	return resp
}

func (f *flow) post(form url.Values) *http.Response {
	f.t.Helper()
	resp, err := f.http.PostForm(f.demo.url+consentPath, form)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f.page, f.status = string(b), resp.StatusCode
	return resp
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the last page.
func (f *flow) csrf() string {
	f.t.Helper()
	m := csrfRE.FindStringSubmatch(f.page)
	if m == nil {
		f.t.Fatalf("no CSRF token on the page:\n%s", f.page)
	}
	return html.UnescapeString(m[1])
}

// login logs in from the login page and loads the consent page.
func (f *flow) login(user, password string) {
	f.t.Helper()
	resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {"login"}, "username": {user}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login: %d\n%s", resp.StatusCode, f.page)
	}
	f.get(f.demo.url + resp.Header.Get("Location"))
	if f.status != http.StatusOK || !strings.Contains(f.page, `value="approve"`) {
		f.t.Fatalf("after login: %d, no consent page:\n%s", f.status, f.page)
	}
}

// decide posts approve or deny with the page's CSRF token and returns the redirect.
func (f *flow) decide(action string) *url.URL {
	f.t.Helper()
	resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {action}})
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("%s: %d\n%s", action, resp.StatusCode, f.page)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// The whole page flow: login page, wrong password, login, consent page showing who asks
// and where the answer goes, approve → code at the redirect URI that redeems at the token
// endpoint for a token bound to the MCP resource.
func TestConsentPagesLoginAndApprove(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", map[string]any{"client_uri": "https://notes.example/about"})
	f := startFlow(t, demo, demo.authorizeURL(c, "st-1", "demo:tools demo:admin"))
	if f.status != http.StatusOK {
		t.Fatalf("login page: %d", f.status)
	}
	mustContain(t, "login page", f.page, "Sign in", "Notes App", `name="password"`, "wonderland")

	f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {"login"}, "username": {"alice"}, "password": {"wrong"}})
	if f.status != http.StatusUnauthorized || !strings.Contains(f.page, "Wrong username or password") {
		t.Fatalf("wrong password: %d\n%s", f.status, f.page)
	}
	f.login("alice", "wonderland")
	mustContain(t, "consent page", f.page,
		"Notes App", c.ID, "notes.example", "unverified",
		"127.0.0.1:9", "This application runs on your computer", // RFC 8252 loopback client: warn
		"demo:tools", html.EscapeString(scopeDescriptions[scopeTools]), "demo:admin", html.EscapeString(scopeDescriptions[scopeAdmin]),
		demo.mcpURL, "fosite-mcp demo MCP server", "Alice Liddell")

	token := f.csrf()
	u := f.decide("approve")
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != c.RedirectURI {
		t.Fatalf("approve redirected to %s, want %s", got, c.RedirectURI)
	}
	if q.Get("code") == "" || q.Get("state") != "st-1" || q.Get("iss") != demo.url {
		t.Fatalf("authorization response %v: want code, state=st-1, iss=%s (RFC 9207)", q, demo.url)
	}
	tok := demo.exchange(t, c, q.Get("code"))
	if tok["scope"] != "demo:tools demo:admin" && tok["scope"] != "demo:admin demo:tools" {
		t.Errorf("granted scope %v", tok["scope"])
	}
	at, err := demo.server.as.VerifyAccessToken(context.Background(), tok["access_token"].(string))
	if err != nil || at.Subject != "alice" || len(at.Audience) != 1 || at.Audience[0] != demo.mcpURL {
		t.Errorf("token: %+v, %v; want subject alice, audience %s", at, err, demo.mcpURL)
	}

	// The request is single use: approving it again is refused.
	f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {token}, "action": {"approve"}})
	if f.status != http.StatusBadRequest || !strings.Contains(f.page, "Request expired") {
		t.Errorf("second approve: %d\n%s", f.status, f.page)
	}
}

// Deny → the client gets error=access_denied with state and iss (RFC 6749 §4.1.2.1, RFC 9207).
func TestConsentPagesDeny(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "st-2", ""))
	f.login("bob", "can-we-fix-it")
	mustContain(t, "consent page", f.page, "Bob the Builder", "demo:tools") // default scope (none requested)
	q := f.decide("deny").Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "st-2" || q.Get("iss") != demo.url || q.Get("code") != "" {
		t.Errorf("deny response %v", q)
	}
}

// Every page carries the anti-framing headers (clickjacking on Approve) and no-store;
// the session cookie is HttpOnly and SameSite=Lax, and not Secure over plain http.
func TestConsentPagesSecurityHeadersAndCookie(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	f := &flow{t: t, demo: demo, http: pageClient(t)}
	resp := f.get(demo.authorizeURL(c, "s", ""))
	consentURL := mustParseURL(t, demo.url).ResolveReference(mustParseURL(t, resp.Header.Get("Location"))).String()
	resp = f.get(consentURL)
	checkPageHeaders(t, "login page", resp.Header)
	ck := findCookie(resp, sessionCookie)
	if ck == nil {
		t.Fatalf("no %s cookie: %v", sessionCookie, resp.Header["Set-Cookie"])
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Path != "/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure over http", ck)
	}
	f.id = mustParseURL(t, consentURL).Query().Get(authRequestParam)
	f.login("alice", "wonderland")
	resp = f.get(consentURL)
	checkPageHeaders(t, "consent page", resp.Header)
	resp = f.get(demo.url + "/")
	checkPageHeaders(t, "home page", resp.Header)
	resp = f.get(demo.url + consentPath + "?auth_request=unknown")
	checkPageHeaders(t, "error page", resp.Header)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown auth_request: %d", resp.StatusCode)
	}
	resp = f.get(demo.url + stylePath)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, ct)
	}
}

func checkPageHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("%s: Content-Security-Policy %q", what, csp)
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
}

func findCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Over https the cookie is __Host-demo_session: Secure, Path=/, no Domain.
func TestConsentPagesHostPrefixedCookieOverHTTPS(t *testing.T) {
	const issuer = "https://demo.example.com"
	dir := t.TempDir()
	s, err := newServer(context.Background(), serverConfig{Issuer: issuer, DBPath: filepath.Join(dir, "demo.db"), SecretsPath: filepath.Join(dir, "s"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	serve := func(r *http.Request) *http.Response {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	reg := httptest.NewRequest(http.MethodPost, issuer+"/register", strings.NewReader(
		`{"client_name":"x","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}`))
	reg.Header.Set("Content-Type", "application/json")
	resp := serve(reg)
	body, _ := io.ReadAll(resp.Body)
	id := regexp.MustCompile(`"client_id":"([^"]+)"`).FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusCreated || id == nil {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	td := &testDemo{url: issuer, mcpURL: issuer + mcpPath}
	authz := td.authorizeURL(registeredClient{ID: id[1], RedirectURI: "http://127.0.0.1:9/cb", verifier: "v"}, "s", "")
	resp = serve(httptest.NewRequest(http.MethodGet, authz, nil))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	// The authorization endpoint binds the request to this browser with a __Secure-
	// cookie scoped to the consent page.
	var binding *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "__Secure-fosite_mcp_authz_") {
			binding = c
		}
	}
	if binding == nil || !binding.Secure || !binding.HttpOnly || binding.Path != consentPath || binding.SameSite != http.SameSiteLaxMode {
		t.Fatalf("browser-binding cookie %+v: want __Secure-, Secure, HttpOnly, Path=%s, SameSite=Lax", binding, consentPath)
	}
	login := httptest.NewRequest(http.MethodGet, resp.Header.Get("Location"), nil)
	login.AddCookie(binding)
	resp = serve(login)
	ck := findCookie(resp, secureSessionCookie)
	if resp.StatusCode != http.StatusOK || ck == nil {
		t.Fatalf("login page: %d, cookies %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}
	if !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v: want __Host- rules (Secure, Path=/, no Domain), HttpOnly, SameSite=Lax", ck)
	}
	// A public issuer never shows passwords on its pages.
	page, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(page), "wonderland") || !strings.Contains(string(page), "printed in the server's console") {
		t.Error("login page of a public issuer shows (or mentions wrongly) the demo passwords")
	}
}

// The consent form's POST needs the CSRF token of this session and this request. Forged
// or replayed forms are refused with 403 and leave the request pending.
func TestConsentPagesCSRF(t *testing.T) {
	// Two dozen posts from one address in a moment: beyond the login rate limit
	// (TestConsentPage_PasswordGuessingRateLimited), which is not what this test is about.
	demo := startDemo(t, demoOptions{rateLimits: &mcp.RateLimits{Disabled: true}})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "s", ""))

	// Login CSRF: the login form needs its token too.
	f.post(url.Values{authRequestParam: {f.id}, "action": {"login"}, "username": {"alice"}, "password": {"wonderland"}})
	if f.status != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d, want 403", f.status)
	}
	f.get(demo.url + consentPath + "?" + url.Values{authRequestParam: {f.id}}.Encode())
	f.login("alice", "wonderland")
	good := f.csrf()

	// A second pending request of the same session, and another browser.
	other := startFlow(t, demo, demo.authorizeURL(c, "s2", ""))
	other.login("alice", "wonderland")
	otherToken := other.csrf()
	f2 := startFlowIn(t, demo, demo.authorizeURL(c, "s3", ""), f.http) // same browser and session as f
	sameSessionOtherRequest := f2.csrf()

	for name, form := range map[string]url.Values{
		"no token":                           {authRequestParam: {f.id}, "action": {"approve"}},
		"empty token":                        {authRequestParam: {f.id}, "action": {"approve"}, "csrf_token": {""}},
		"wrong token":                        {authRequestParam: {f.id}, "action": {"approve"}, "csrf_token": {"AAAA" + good[4:]}},
		"token of another session":           {authRequestParam: {f.id}, "action": {"approve"}, "csrf_token": {otherToken}},
		"token of another request":           {authRequestParam: {f.id}, "action": {"approve"}, "csrf_token": {sameSessionOtherRequest}},
		"login token used to approve":        {authRequestParam: {f.id}, "action": {"approve"}, "csrf_token": {loginToken(demo, f)}},
		"no token, deny":                     {authRequestParam: {f.id}, "action": {"deny"}},
		"no token, switch user":              {authRequestParam: {f.id}, "action": {"switch"}},
		"good token, other request's ID":     {authRequestParam: {f2.id}, "action": {"approve"}, "csrf_token": {good}},
		"good token, missing request ID":     {"action": {"approve"}, "csrf_token": {good}},
		"good token, login action as forged": {authRequestParam: {f.id}, "action": {"login"}, "csrf_token": {good}, "username": {"bob"}, "password": {"can-we-fix-it"}},
	} {
		resp := f.post(form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(f.page, "CSRF") {
			t.Errorf("%s: %d, want 403 (CSRF)", name, resp.StatusCode)
		}
	}
	// Without the session cookie (a cross-site POST under SameSite=Lax).
	resp, err := http.PostForm(demo.url+consentPath, url.Values{authRequestParam: {f.id}, "action": {"approve"}, "csrf_token": {good}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without the session cookie: %d, want 403", resp.StatusCode)
	}
	// GET never decides.
	f.get(demo.url + consentPath + "?" + url.Values{authRequestParam: {f.id}, "action": {"approve"}, "csrf_token": {good}}.Encode())
	if f.status != http.StatusOK || !strings.Contains(f.page, `value="approve"`) {
		t.Errorf("GET with action=approve: %d", f.status)
	}
	// The request is still pending and the real form still works.
	if u := f.decide("approve"); u.Query().Get("code") == "" {
		t.Errorf("approve after refused forgeries: %v", u)
	}
}

// loginToken is the login form's token for f's request in f's current session.
func loginToken(demo *testDemo, f *flow) string {
	return pagesOf(demo).sessions.csrfToken(sessionOf(demo, f), "login\x00"+f.id)
}

// pagesOf rebuilds the demo's session codec from its secrets file and database.
func pagesOf(demo *testDemo) *pages {
	sec, _, err := loadOrCreateSecrets(demo.cfg.SecretsPath)
	if err != nil {
		panic(err)
	}
	return &pages{sessions: newSessions(sec.GlobalSecret, false, demo.server.store.DB())}
}

// Every client-supplied string reaches the page escaped: a client name with markup is
// shown as text.
func TestConsentPagesEscapeClientStrings(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	const name = `<script>alert("pwned")</script><img src=x onerror=alert(1)> & "quotes"`
	c := demo.register(t, name, "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "s", ""))
	for _, page := range []string{"login", "consent"} {
		if page == "consent" {
			f.login("alice", "wonderland")
		}
		if strings.Contains(f.page, "<script") || strings.Contains(f.page, "<img") {
			t.Errorf("%s page contains unescaped client markup:\n%s", page, f.page)
		}
		mustContain(t, page+" page", f.page, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;")
	}
}

// Issue 14 finding 5: the consent page shows the client's website as the client's
// unverified claim, by its ASCII host (аррӏе.com reads as apple.com; its punycode
// does not), and registration refuses a name with a right-to-left override.
func TestIssue14Finding5_ConsentShowsWebsiteUnverifiedInASCII(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Apple", "http://127.0.0.1:9/callback", map[string]any{"client_uri": "https://аррӏе.com/about"})
	f := startFlow(t, demo, demo.authorizeURL(c, "s", ""))
	f.login("alice", "wonderland")
	mustContain(t, "consent page", f.page, "xn--80ak6aa92e.com", "unverified")
	if strings.Contains(f.page, "аррӏе") {
		t.Errorf("consent page shows the homograph host:\n%s", f.page)
	}
	body := `{"client_name":"Claude Code \u202e(verified by Anthropic)","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}`
	resp, err := http.Post(demo.url+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("registration of a name with U+202E: %d, want 400", resp.StatusCode)
	}
}

// The pages refuse what they do not handle, with a page rather than a crash.
func TestConsentPagesBadRequests(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	f := &flow{t: t, demo: demo, http: pageClient(t)}
	for _, tc := range []struct {
		name   string
		do     func() *http.Response
		status int
	}{
		{"no auth_request", func() *http.Response { return f.get(demo.url + consentPath) }, http.StatusBadRequest},
		{"unknown auth_request", func() *http.Response { return f.get(demo.url + consentPath + "?auth_request=nope") }, http.StatusBadRequest},
		{"PUT", func() *http.Response {
			req, _ := http.NewRequest(http.MethodPut, demo.url+consentPath, nil)
			resp, err := f.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}, http.StatusMethodNotAllowed},
		{"JSON body", func() *http.Response {
			resp, err := f.http.Post(demo.url+consentPath, "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}, http.StatusUnsupportedMediaType},
		{"huge form", func() *http.Response {
			return f.post(url.Values{"x": {strings.Repeat("a", 1<<20)}})
		}, http.StatusBadRequest},
	} {
		if resp := tc.do(); resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}

// "Not you?" starts a fresh session: the login page comes back, and the other user's
// consent is recorded under the other subject.
func TestConsentPagesSwitchUser(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "s", ""))
	f.login("alice", "wonderland")
	resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {"switch"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch: %d", resp.StatusCode)
	}
	f.get(demo.url + resp.Header.Get("Location"))
	if !strings.Contains(f.page, `name="password"`) {
		t.Fatalf("after switch: no login page:\n%s", f.page)
	}
	f.login("bob", "can-we-fix-it")
	q := f.decide("approve").Query()
	tok := demo.exchange(t, c, q.Get("code"))
	at, err := demo.server.as.VerifyAccessToken(context.Background(), tok["access_token"].(string))
	if err != nil || at.Subject != "bob" {
		t.Errorf("subject after switching users: %+v %v", at, err)
	}
}

func TestSessionCookieTamperingAndExpiry(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		ctx := context.Background()
		if err := migrateSessions(ctx, store.DB()); err != nil {
			t.Fatal(err)
		}
		s := newSessions([]byte(strings.Repeat("k", 32)), false, store.DB())
		w := httptest.NewRecorder()
		sess, err := s.start(ctx, w, "alice")
		if err != nil {
			t.Fatal(err)
		}
		ck := w.Result().Cookies()[0]
		read := func(value string) (session, bool) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
			got, ok, err := s.get(r)
			if err != nil {
				t.Fatal(err)
			}
			return got, ok
		}
		if got, ok := read(ck.Value); !ok || got.Subject != "alice" || got.ID != sess.ID {
			t.Fatalf("valid cookie read as %+v %v", got, ok)
		}
		payload, mac, _ := strings.Cut(ck.Value, "~")
		forged := strings.Replace(payload, ".YWxpY2U.", ".Ym9i.", 1) // subject bob
		for name, v := range map[string]string{
			"forged subject": forged + "~" + mac,
			"no mac":         payload,
			"other key":      payload + "~" + newSessions([]byte(strings.Repeat("x", 32)), false, store.DB()).mac(payload),
			"garbage":        "a.b.c~d",
			"empty":          "",
		} {
			if _, ok := read(v); ok {
				t.Errorf("%s: accepted", name)
			}
		}
		s.now = func() time.Time { return time.Now().Add(sessionLifetime + time.Minute) }
		if _, ok := read(ck.Value); ok {
			t.Error("expired session accepted")
		}
	})
}

// TestIssue14Finding8_SessionEndRefusesCookie: a logged-in session ended (logout) is
// refused afterwards even though its cookie's MAC and expiry are valid; the cookie never
// reaches the database (only its ID's hash does).
func TestIssue14Finding8_SessionEndRefusesCookie(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		ctx := context.Background()
		if err := migrateSessions(ctx, store.DB()); err != nil {
			t.Fatal(err)
		}
		if err := migrateSessions(ctx, store.DB()); err != nil {
			t.Fatalf("second migrateSessions: %v", err)
		}
		s := newSessions([]byte(strings.Repeat("k", 32)), false, store.DB())
		w := httptest.NewRecorder()
		sess, err := s.start(ctx, w, "alice")
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(w.Result().Cookies()[0])
		if _, ok, err := s.get(r); !ok || err != nil {
			t.Fatalf("live session: %v %v", ok, err)
		}
		var stored []string
		if err := store.DB().Table(sessionTable).Pluck("id_hash", &stored).Error; err != nil || len(stored) != 1 || strings.Contains(stored[0], sess.ID) {
			t.Fatalf("stored session keys %v (%v): want one hash, not the ID", stored, err)
		}
		if err := s.end(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.get(r); ok || err != nil {
			t.Fatalf("ended session: accepted=%v err=%v; want refused", ok, err)
		}
		if err := s.end(ctx, sess); err != nil {
			t.Fatalf("ending twice: %v", err)
		}
	})
}

// Issue 14 finding 1: -auto-approve approves only loopback http redirect URIs; it used
// to approve every non-https scheme, ftp://attacker.example/cb and
// x-safari-https://… included, although it claims to approve only redirect URIs that
// stay on this machine.
func TestIssue14Finding1_LocalRedirectIsLoopbackHTTPOnly(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:45123/callback": true, "http://[::1]:1/cb": true, "http://localhost/callback": true,
		"http://127.attacker.example/cb": false, "http://localhost.attacker.example/cb": false, "http://127.0.0.1:09999/cb": false,
		"https://127.0.0.1/cb": false, "https://evil.example/cb": false, "ftp://attacker.example/cb": false,
		"x-safari-https://attacker.example/cb": false, "com.example.app:/cb": false, "cursor://anysphere.cursor-mcp/oauth/callback": false,
		"search-ms:?query=x": false, "mailto:/x": false, "": false,
	} {
		if got := localRedirect(raw); got != want {
			t.Errorf("localRedirect(%q) = %v, want %v", raw, got, want)
		}
	}
}
