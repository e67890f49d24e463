package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// browser is a cookie-jar HTTP client that does not follow redirects: one user's
// browser.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) newBrowser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// authorize sends a fresh authorization request of the public client and returns the
// pending request's ID (the browser is sent to the login page).
func (b *browser) authorize() string {
	b.e.t.Helper()
	q, _ := b.e.authorizeParams("http://localhost:50999/callback", nil)
	req, _ := http.NewRequest(http.MethodGet, b.e.issuer+"/authorize?"+q.Encode(), nil)
	resp, _ := b.do(req)
	return location(b.e.t, resp).Query().Get(provider.LoginRequestParam)
}

// open GETs the login page of id (a tab) and returns the response and body.
func (b *browser) open(id string) (*http.Response, string) {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.issuer+"/login?"+url.Values{provider.LoginRequestParam: {id}}.Encode(), nil)
	return b.do(req)
}

// csrf opens the login page of id and returns its CSRF token.
func (b *browser) csrf(id string) string {
	b.e.t.Helper()
	resp, body := b.open(id)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.e.t.Fatalf("login page %d:\n%s", resp.StatusCode, body)
	}
	return m[1]
}

// login posts the login form of id with token and password.
func (b *browser) login(id, token, password string) (*http.Response, string) {
	b.e.t.Helper()
	form := url.Values{provider.LoginRequestParam: {id}, "csrf_token": {token}, "action": {"approve"},
		"username": {testUser}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, b.e.issuer+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// consentRequest is the request this browser would send to the login page of id, for
// the consent API (which custom pages call with their own request).
func (b *browser) consentRequest(id string) *http.Request {
	u := b.e.issuer + "/login?" + url.Values{provider.LoginRequestParam: {id}}.Encode()
	r, _ := http.NewRequest(http.MethodGet, u, nil)
	for _, c := range b.c.Jar.Cookies(r.URL) {
		r.AddCookie(c)
	}
	return r
}

// wantCode checks that resp sends the browser to the client with a code.
func wantCode(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 to the client:\n%s", resp.StatusCode, body)
	}
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %q carries no code", resp.Header.Get("Location"))
	}
}

// TestIssue14Finding7_PendingRequestBoundToBrowser: a pending request can be seen,
// approved and denied only from the browser that sent the authorization request (the
// cookie the authorization endpoint set). Another logged-in browser that learned the
// request ID gets an error page or ErrOtherBrowser — never a redirect to the client — and
// the victim's own approval still works afterwards.
func TestIssue14Finding7_PendingRequestBoundToBrowser(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		victim, attacker := e.newBrowser(), e.newBrowser()
		id := victim.authorize()
		attacker.authorize() // the attacker has a binding cookie of their own request

		t.Run("built-in page: GET from another browser", func(t *testing.T) {
			resp, body := attacker.open(id)
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" ||
				!strings.Contains(body, "started in another browser") || strings.Contains(body, "csrf_token") {
				t.Fatalf("status %d, Location %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
		})
		t.Run("built-in page: POST from another browser with the victim's token", func(t *testing.T) {
			token := victim.csrf(id) // even a token leaked from the victim's page does not help
			for _, action := range []string{"approve", "deny"} {
				form := url.Values{provider.LoginRequestParam: {id}, "csrf_token": {token}, "action": {action},
					"username": {testUser}, "password": {testPassword}}
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if resp, body := attacker.do(req); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
					t.Fatalf("%s: status %d, Location %q:\n%s", action, resp.StatusCode, resp.Header.Get("Location"), body)
				}
			}
		})
		t.Run("consent API from another browser", func(t *testing.T) {
			forged := attacker.consentRequest(id)
			forged.AddCookie(&http.Cookie{Name: bindingCookie(t, recordAuthorize(t, e)).Name, Value: "guessed"})
			for name, r := range map[string]*http.Request{"nil request": nil, "no cookie": browserRequest(e.issuer + "/login"), "attacker's cookies": forged} {
				if _, err := e.p.AuthorizationRequest(r, id); !errors.Is(err, provider.ErrOtherBrowser) {
					t.Errorf("%s: AuthorizationRequest = %v; want ErrOtherBrowser", name, err)
				}
				if u, err := e.p.Approve(r, id, "attacker", nil); !errors.Is(err, provider.ErrOtherBrowser) || u != "" {
					t.Errorf("%s: Approve = %q, %v; want ErrOtherBrowser and no redirect", name, u, err)
				}
				if u, err := e.p.Deny(r, id); !errors.Is(err, provider.ErrOtherBrowser) || u != "" {
					t.Errorf("%s: Deny = %q, %v; want ErrOtherBrowser and no redirect", name, u, err)
				}
			}
		})
		t.Run("a cookie planted under the right name", func(t *testing.T) {
			// A sibling host can plant a cookie with the request's cookie name; its value
			// does not match the stored hash.
			r := browserRequest(e.issuer + "/login")
			for _, c := range victim.c.Jar.Cookies(r.URL) {
				r.AddCookie(&http.Cookie{Name: c.Name, Value: "planted"})
			}
			if _, err := e.p.Approve(r, id, "attacker", nil); !errors.Is(err, provider.ErrOtherBrowser) {
				t.Fatalf("Approve with a planted cookie = %v; want ErrOtherBrowser", err)
			}
		})
		t.Run("the victim's browser approves", func(t *testing.T) {
			resp, body := victim.login(id, victim.csrf(id), testPassword)
			wantCode(t, resp, body)
		})
	}, withLogin())
}

// recordAuthorize sends an authorization request without a browser and returns the
// response (to read the cookie it sets).
func recordAuthorize(t *testing.T, e *env) *http.Response {
	t.Helper()
	q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
	return e.get(e.issuer + "/authorize?" + q.Encode())
}

// TestIssue14Finding12_TwoTabsBothWork: opening the login page again (a second tab, a
// reload) no longer replaces the first tab's CSRF cookie, and two pending requests in
// one browser each keep their own.
func TestIssue14Finding12_TwoTabsBothWork(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		b := e.newBrowser()
		t.Run("one request in two tabs", func(t *testing.T) {
			id := b.authorize()
			tab1 := b.csrf(id)
			tab2 := b.csrf(id)
			resp, body := b.login(id, tab1, testPassword) // the first tab, after the second opened
			wantCode(t, resp, body)
			_ = tab2
		})
		t.Run("two requests in two tabs", func(t *testing.T) {
			id1 := b.authorize()
			tab1 := b.csrf(id1)
			id2 := b.authorize()
			tab2 := b.csrf(id2)
			resp, body := b.login(id1, tab1, testPassword)
			wantCode(t, resp, body)
			resp, body = b.login(id2, tab2, testPassword)
			wantCode(t, resp, body)
		})
	}, withLogin())
}

// countingLogin is withLogin with an authenticator that counts the passwords it checks.
func countingLogin(checked *atomic.Int64) envOption {
	return func(e *env, cfg *provider.Config) {
		withLogin()(e, cfg)
		inner := cfg.Authenticator
		cfg.Authenticator = provider.AuthenticatorFunc(func(ctx context.Context, u, pw string) (string, error) {
			checked.Add(1)
			return inner.Authenticate(ctx, u, pw)
		})
	}
}

// TestIssue14Finding12_WrongPasswordsCancelRequest: the fifth wrong password cancels the
// pending request (a clear error page, no redirect); the right password afterwards is
// refused too, and the request is gone from the consent API.
func TestIssue14Finding12_WrongPasswordsCancelRequest(t *testing.T) {
	var checked atomic.Int64
	runEnv(t, func(t *testing.T, e *env) {
		checked.Store(0)
		b := e.newBrowser()
		id := b.authorize()
		token := b.csrf(id)
		for i := 1; i <= provider.DefaultMaxLoginAttempts; i++ {
			resp, body := b.login(id, token, "wrong")
			want := http.StatusUnauthorized
			if i == provider.DefaultMaxLoginAttempts {
				want = http.StatusForbidden
				if !strings.Contains(body, "Too many wrong passwords") {
					t.Errorf("attempt %d: page lacks the explanation:\n%s", i, body)
				}
			}
			if resp.StatusCode != want || resp.Header.Get("Location") != "" {
				t.Fatalf("wrong password %d: status %d, Location %q; want %d", i, resp.StatusCode, resp.Header.Get("Location"), want)
			}
		}
		if resp, body := b.login(id, token, testPassword); resp.StatusCode == http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), "code=") {
			t.Fatalf("the right password after the limit: status %d, Location %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if _, err := e.p.AuthorizationRequest(b.consentRequest(id), id); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("cancelled request: %v; want ErrAuthorizationRequestNotFound", err)
		}
		if n := checked.Load(); n != int64(provider.DefaultMaxLoginAttempts) {
			t.Fatalf("%d passwords checked; want %d", n, provider.DefaultMaxLoginAttempts)
		}
		// Another request of the same browser is unaffected.
		id = b.authorize()
		resp, body := b.login(id, b.csrf(id), testPassword)
		wantCode(t, resp, body)
	}, countingLogin(&checked))
}

// TestIssue14Finding12_ConcurrentWrongPasswordsBounded: 20 wrong passwords posted at once
// for one pending request get at most MaxLoginAttempts checked, on both databases; the
// others are refused without a check.
func TestIssue14Finding12_ConcurrentWrongPasswordsBounded(t *testing.T) {
	var checked atomic.Int64
	runEnv(t, func(t *testing.T, e *env) {
		checked.Store(0)
		b := e.newBrowser()
		id := b.authorize()
		token := b.csrf(id)
		const n = 20
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			statuses sync.Map
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				form := url.Values{provider.LoginRequestParam: {id}, "csrf_token": {token}, "action": {"approve"},
					"username": {testUser}, "password": {"wrong"}}
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := b.c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses.Store(i, resp.StatusCode)
			}()
		}
		close(start)
		wg.Wait()
		unauthorized := 0
		statuses.Range(func(_, v any) bool {
			switch v.(int) {
			case http.StatusUnauthorized:
				unauthorized++
			case http.StatusForbidden, http.StatusBadRequest:
			default:
				t.Errorf("status %d; want 401, 403 or 400", v)
			}
			return true
		})
		if c := checked.Load(); c > int64(provider.DefaultMaxLoginAttempts) || c == 0 {
			t.Fatalf("%d passwords checked for one request under %d concurrent attempts; want 1..%d", c, n, provider.DefaultMaxLoginAttempts)
		}
		if unauthorized >= provider.DefaultMaxLoginAttempts {
			t.Fatalf("%d attempts answered 'wrong password'; at most %d-1 may be (the last one cancels)", unauthorized, provider.DefaultMaxLoginAttempts)
		}
		if resp, _ := b.login(id, token, testPassword); resp.StatusCode == http.StatusSeeOther {
			t.Fatalf("the right password after the concurrent burst was accepted: %s", resp.Header.Get("Location"))
		}
	}, countingLogin(&checked))
}

// TestMaxLoginAttemptsNegativeMeansNoLimit: with MaxLoginAttempts < 0 the per-request
// count is off (the per-address rate limit of the mcp layer still applies).
func TestMaxLoginAttemptsNegativeMeansNoLimit(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		b := e.newBrowser()
		id := b.authorize()
		token := b.csrf(id)
		for range provider.DefaultMaxLoginAttempts + 2 {
			if resp, _ := b.login(id, token, "wrong"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", resp.StatusCode)
			}
		}
		resp, body := b.login(id, token, testPassword)
		wantCode(t, resp, body)
	}, withLogin(), func(_ *env, cfg *provider.Config) { cfg.MaxLoginAttempts = -1 })
}

// TestLoginAttempt_ConsentAPIForOwnPages pins LoginAttempt, the attempt limit for login
// pages of your own: a failed check wraps ErrLoginFailed and check's error, the last one
// cancels the request (ErrTooManyLoginAttempts), later attempts do not run check, and
// another browser is refused before check runs.
func TestLoginAttempt_ConsentAPIForOwnPages(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
		id, browser := e.pending(q)
		errWrong := errors.New("wrong password")
		var calls atomic.Int64
		wrong := func(context.Context) (string, error) { calls.Add(1); return "", errWrong }
		right := func(context.Context) (string, error) { calls.Add(1); return testSubject, nil }

		if _, err := e.p.LoginAttempt(browserRequest(e.issuer+"/login"), id, right); !errors.Is(err, provider.ErrOtherBrowser) || calls.Load() != 0 {
			t.Fatalf("another browser: %v, %d checks; want ErrOtherBrowser before any check", err, calls.Load())
		}
		for i := 1; i < provider.DefaultMaxLoginAttempts; i++ {
			if _, err := e.p.LoginAttempt(browser, id, wrong); !errors.Is(err, provider.ErrLoginFailed) || !errors.Is(err, errWrong) {
				t.Fatalf("wrong password %d: %v; want ErrLoginFailed wrapping the check's error", i, err)
			}
		}
		if _, err := e.p.LoginAttempt(browser, id, wrong); !errors.Is(err, provider.ErrTooManyLoginAttempts) {
			t.Fatalf("last wrong password: %v; want ErrTooManyLoginAttempts", err)
		}
		if s, err := e.p.LoginAttempt(browser, id, right); err == nil || s != "" {
			t.Fatalf("right password after the limit: %q, %v", s, err)
		}
		if n := calls.Load(); n != int64(provider.DefaultMaxLoginAttempts) {
			t.Fatalf("%d checks; want %d", n, provider.DefaultMaxLoginAttempts)
		}
		if _, err := e.p.Approve(browser, id, testSubject, nil); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("approving the cancelled request: %v", err)
		}

		// Concurrent attempts on a fresh request run check at most the limit's times.
		id, browser = e.pending(q)
		calls.Store(0)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.p.LoginAttempt(browser, id, wrong)
				if !errors.Is(err, provider.ErrLoginFailed) && !errors.Is(err, provider.ErrTooManyLoginAttempts) &&
					!errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
					t.Errorf("concurrent attempt: %v", err)
				}
			}()
		}
		wg.Wait()
		if n := calls.Load(); n > int64(provider.DefaultMaxLoginAttempts) {
			t.Fatalf("%d checks under 20 concurrent attempts; want at most %d", n, provider.DefaultMaxLoginAttempts)
		}

		// The right password on the last allowed attempt logs in, and the request can be
		// approved.
		id, browser = e.pending(q)
		for range provider.DefaultMaxLoginAttempts - 1 {
			if _, err := e.p.LoginAttempt(browser, id, wrong); !errors.Is(err, provider.ErrLoginFailed) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if s, err := e.p.LoginAttempt(browser, id, right); err != nil || s != testSubject {
			t.Fatalf("right password on the last attempt: %q, %v", s, err)
		}
		if u, err := e.p.Approve(browser, id, testSubject, nil); err != nil || !strings.Contains(u, "code=") {
			t.Fatalf("approval after the last attempt succeeded: %q, %v", u, err)
		}
	}, withLogin())
}
