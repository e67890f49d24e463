package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Environment variables of the browser tests.
const (
	// envRequireChromium set to "1" turns a missing Chromium into a failure (CI).
	envRequireChromium = "REQUIRE_CHROMIUM"
	// envChromium names the browser binary (default: chromium, chromium-browser, google-chrome on PATH).
	envChromium = "CHROMIUM"
	// envUpdateScreenshots set to "1" writes docs/consent.png and docs/device.png.
	envUpdateScreenshots = "UPDATE_SCREENSHOTS"
)

// screenshotPath is the consent page screenshot the README shows.
var screenshotPath = filepath.Join("..", "..", "docs", "consent.png")

// newBrowser starts a headless Chromium with a fresh profile and returns a tab. Without
// Chromium the test is skipped, unless REQUIRE_CHROMIUM=1.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv(envChromium)
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv(envRequireChromium) == "1" {
			t.Fatalf("Chromium not found but %s=1 (install it: apt-get install -y chromium)", envRequireChromium)
		}
		t.Skipf("\n*** SKIPPING the browser test: Chromium not found (apt-get install -y chromium; %s=1 makes this a failure) ***", envRequireChromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1000, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first action starts the browser, bound to ctx (a deadline here would end it).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// within returns ctx with a deadline, so that a stuck page fails the test instead of hanging it.
func within(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// text returns the text of the first element matching css.
func text(ctx context.Context, css string) (string, error) {
	return chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
}

// browserLogin fills in the login form of the current page and submits it.
func browserLogin(ctx context.Context, user, password string) error {
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#username`))); err != nil {
		return fmt.Errorf("login page: %w", err)
	}
	resp, err := chromedp.RunResponse(ctx,
		chromedp.SendKeys(chromedp.CSS(`#username`), user),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`button[value=login]`)),
	)
	if err != nil {
		return fmt.Errorf("logging in: %w", err)
	}
	if resp.Status != http.StatusOK {
		return fmt.Errorf("after login: HTTP %d", resp.Status)
	}
	return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`)))
}

// The demo client's login in a real browser: the login page, the consent page naming
// the client and its redirect host, Approve → the client's loopback callback receives
// the code and the client carries on. The consent page's screenshot is the README's.
func TestBrowserLoginConsentApprove(t *testing.T) {
	browser := newBrowser(t)
	demo := startDemo(t, demoOptions{})
	tokens := filepath.Join(t.TempDir(), "tokens.json")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var openErr error
	opened := 0
	open := func(_ context.Context, authURL string) error {
		opened++
		openErr = approveInBrowser(t, within(t, browser, time.Minute), demo, authURL)
		if openErr != nil {
			cancel() // stop the client waiting for a callback that will not come
		}
		return openErr
	}
	var out strings.Builder
	err := runClient(ctx, clientOptions{URL: demo.mcpURL, TokenFile: tokens, OpenURL: open, CallbackAddr: "127.0.0.1:0", LoginTimeout: time.Minute}, &out)
	if openErr != nil {
		t.Fatalf("browser: %v\nclient output:\n%s", openErr, out.String())
	}
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out.String())
	}
	if opened != 1 {
		t.Errorf("browser opened %d times, want 1", opened)
	}
	mustContain(t, "client output", out.String(), "Logged in.", "subject    alice", "scopes     demo:tools")
}

func approveInBrowser(t *testing.T, ctx context.Context, demo *testDemo, authURL string) error {
	au, err := url.Parse(authURL)
	if err != nil {
		return err
	}
	redirect, err := url.Parse(au.Query().Get("redirect_uri"))
	if err != nil {
		return err
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(authURL))
	if err != nil {
		return fmt.Errorf("opening the authorization URL: %w", err)
	}
	if resp.Status != http.StatusOK || !strings.HasPrefix(resp.URL, demo.url+consentPath) {
		return fmt.Errorf("authorization URL led to %s (HTTP %d), want the login page", resp.URL, resp.Status)
	}
	if h, _ := text(ctx, "h1"); h != "Sign in" {
		return fmt.Errorf("login page heading %q", h)
	}
	if err := browserLogin(ctx, "alice", "wonderland"); err != nil {
		return err
	}
	h1, err := text(ctx, "h1")
	if err != nil {
		return err
	}
	facts, err := text(ctx, "dl.facts")
	if err != nil {
		return err
	}
	warning, err := text(ctx, ".notice.warn")
	if err != nil {
		return fmt.Errorf("no localhost warning: %w", err)
	}
	switch {
	case !strings.Contains(h1, "fosite-mcp demo client"):
		return fmt.Errorf("consent heading %q does not name the client", h1)
	case !strings.Contains(facts, redirect.Host):
		return fmt.Errorf("consent facts %q do not show the redirect host %s", facts, redirect.Host)
	case !strings.Contains(warning, "runs on your computer"):
		return fmt.Errorf("localhost warning %q", warning)
	}
	scopes, err := text(ctx, "ul.scopes")
	if err != nil || !strings.Contains(scopes, scopeTools) {
		return fmt.Errorf("consent scopes %q (%v)", scopes, err)
	}
	if err := checkPhoneLayout(ctx); err != nil {
		return err
	}
	if os.Getenv(envUpdateScreenshots) == "1" {
		if err := saveScreenshot(ctx, screenshotPath); err != nil {
			return err
		}
		t.Logf("wrote %s", screenshotPath)
	}
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value=approve]`)))
	if err != nil {
		return fmt.Errorf("approving: %w", err)
	}
	if !strings.HasPrefix(resp.URL, redirect.String()) || resp.Status != http.StatusOK {
		return fmt.Errorf("approve led to %s (HTTP %d), want the client's callback %s", resp.URL, resp.Status, redirect)
	}
	if done, _ := text(ctx, "h1"); done != "You are signed in." {
		return fmt.Errorf("callback page says %q", done)
	}
	return nil
}

// checkPhoneLayout reloads nothing: it narrows the viewport to a phone's and checks that
// the consent page needs no horizontal scrolling and keeps its buttons on screen.
func checkPhoneLayout(ctx context.Context) error {
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile)); err != nil {
		return err
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		return err
	}
	buttonsFit, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`[...document.querySelectorAll('button.primary, button.secondary')].every(b => { const r = b.getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth && r.width >= 44 })`))
	if err != nil {
		return err
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1000, 900)); err != nil {
		return err
	}
	if overflow || !buttonsFit {
		return fmt.Errorf("consent page on a 360px phone: horizontal overflow %v, buttons fit %v", overflow, buttonsFit)
	}
	return nil
}

// saveScreenshot writes a PNG of the page at a desktop-ish width, cropped to the content.
func saveScreenshot(ctx context.Context, path string) error {
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(880, 600)); err != nil {
		return err
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 = PNG
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// Deny in a real browser sends access_denied to the client; a client name full of markup
// is shown as text and runs nothing.
func TestBrowserDenyAndEscapedClientName(t *testing.T) {
	browser := newBrowser(t)
	ctx := within(t, browser, time.Minute)
	demo := startDemo(t, demoOptions{})
	cb := newCallbackServer(t)
	const name = `<script>alert("xss")</script><img src=x onerror=alert(2)>Evil App`
	c := demo.register(t, name, cb.redirectURI(), nil)

	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	var dialogCount atomic.Int32
	dctx, stopDialogs := context.WithCancel(ctx)
	defer stopDialogs()
	go func() {
		for _, err := range dialogs {
			if err != nil || dctx.Err() != nil {
				return
			}
			dialogCount.Add(1)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	if err := chromedp.Do(ctx, chromedp.Navigate(demo.authorizeURL(c, "deny-state", ""))); err != nil {
		t.Fatal(err)
	}
	if got, err := text(ctx, ".client-name"); err != nil || got != name {
		t.Errorf("login page shows the client name as %q (%v), want the literal text %q", got, err, name)
	}
	if err := browserLogin(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if got, err := text(ctx, "h1 .client-name"); err != nil || got != name {
		t.Errorf("consent page shows the client name as %q (%v), want the literal text %q", got, err, name)
	}
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length + document.images.length`))
	if err != nil || injected != 0 {
		t.Errorf("consent page has %d script/img elements (%v), want 0", injected, err)
	}
	facts, _ := text(ctx, "dl.facts")
	if u, _ := url.Parse(cb.URL); !strings.Contains(facts, u.Host) {
		t.Errorf("consent facts %q do not show the redirect host %s", facts, u.Host)
	}

	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value=deny]`))); err != nil {
		t.Fatal(err)
	}
	q := cb.wait(t)
	if q.Get("error") != "access_denied" || q.Get("state") != "deny-state" || q.Get("iss") != demo.url || q.Get("code") != "" {
		t.Errorf("deny: callback got %v, want error=access_denied, state, iss", q)
	}
	time.Sleep(100 * time.Millisecond) // let a dialog event, if any, arrive
	if n := dialogCount.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened: the client name ran as script", n)
	}
}

// A page elsewhere that posts the consent form into the logged-in browser (CSRF) is
// refused, whether the browser sends the session cookie (same site, other port) or not
// (cross-site: SameSite=Lax withholds it); the request stays pending and the real form
// still works.
func TestBrowserForgedConsentPostRefused(t *testing.T) {
	browser := newBrowser(t)
	ctx := within(t, browser, time.Minute)
	demo := startDemo(t, demoOptions{})
	cb := newCallbackServer(t)
	c := demo.register(t, "Notes App", cb.redirectURI(), nil)

	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(demo.authorizeURL(c, "csrf-state", "")))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("authorize: %v %v", resp, err)
	}
	consentURL := resp.URL
	id := mustParseURL(t, consentURL).Query().Get(authRequestParam)
	if err := browserLogin(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}

	attacker := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		extra := ""
		if tok := r.URL.Query().Get("token"); tok != "" {
			extra = `<input type="hidden" name="csrf_token" value="` + tok + `">`
		}
		fmt.Fprintf(w, `<!DOCTYPE html><title>win a prize</title>
<form method="post" action="%s%s"><input type="hidden" name="auth_request" value="%s"><input type="hidden" name="action" value="approve">%s</form>
<script>document.forms[0].submit()</script>`, demo.url, consentPath, id, extra)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	attacker.Listener = ln
	attacker.Start()
	defer attacker.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct{ name, url string }{
		{"same site, no token", fmt.Sprintf("http://127.0.0.1:%d/", port)},
		{"same site, forged token", fmt.Sprintf("http://127.0.0.1:%d/?token=AAAAforgedAAAA", port)},
		{"cross site, no token", fmt.Sprintf("http://localhost:%d/", port)},
	} {
		// The attacker page submits itself: wait for the page it lands on.
		if err := chromedp.Do(ctx, chromedp.Navigate(tc.url)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.notice.error`))); err != nil {
			t.Fatalf("%s: no error page after the forged POST: %v", tc.name, err)
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		msg, _ := text(ctx, ".notice.error")
		if !strings.HasPrefix(loc, demo.url+consentPath) || !strings.Contains(msg, "CSRF") {
			t.Errorf("%s: landed on %s with %q, want the CSRF refusal", tc.name, loc, msg)
		}
		cb.none(t)
	}

	// The request is still pending and the session intact: the real form works.
	if err := chromedp.Do(ctx, chromedp.Navigate(consentURL), chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value=approve]`))); err != nil {
		t.Fatal(err)
	}
	q := cb.wait(t)
	if q.Get("code") == "" || q.Get("state") != "csrf-state" {
		t.Fatalf("approve after the forged posts: callback got %v", q)
	}
	demo.exchange(t, c, q.Get("code"))
}

// TestBrowserIssue14Finding7_PendingRequestBoundToBrowser in real browsers: the login
// starts on the client's page on another site (localhost, the demo being 127.0.0.1), and
// the browser-binding cookie set in that cross-site redirect chain reaches the consent
// page (a wrong Path or SameSite setting that withheld it would end at "Wrong browser");
// a second browser logged in as another user gets "Wrong browser" for the victim's
// consent page; the victim's browser approves and the callback gets the code.
func TestBrowserIssue14Finding7_PendingRequestBoundToBrowser(t *testing.T) {
	victim := within(t, newBrowser(t), time.Minute)
	attacker := within(t, newBrowser(t), time.Minute)
	demo := startDemo(t, demoOptions{})
	cb := newCallbackServer(t)
	c := demo.register(t, "Notes App", cb.redirectURI(), nil)
	authURL := demo.authorizeURL(c, "victim-state", "")
	clientPage := httptest.NewServer(http.RedirectHandler(authURL, http.StatusFound))
	t.Cleanup(clientPage.Close)
	start := strings.Replace(clientPage.URL, "127.0.0.1", "localhost", 1) + "/login"

	resp, err := chromedp.Run(victim, chromedp.NavigateResponse(start))
	if err != nil || resp.Status != http.StatusOK || !strings.HasPrefix(resp.URL, demo.url+consentPath) {
		t.Fatalf("cross-site start led to %v (%v), want the login page", resp, err)
	}
	if err := browserLogin(victim, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	consentURL, err := chromedp.Run(victim, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}

	if _, err := chromedp.Run(attacker, chromedp.Navigate(demo.authorizeURL(c, "attacker-state", ""))); err != nil {
		t.Fatal(err)
	}
	if err := browserLogin(attacker, "bob", "can-we-fix-it"); err != nil {
		t.Fatal(err)
	}
	resp, err = chromedp.Run(attacker, chromedp.NavigateResponse(consentURL))
	if err != nil {
		t.Fatal(err)
	}
	if h1, _ := text(attacker, "h1"); resp.Status != http.StatusForbidden || h1 != "Wrong browser" {
		t.Fatalf("the victim's consent page in the attacker's browser: HTTP %d, heading %q", resp.Status, h1)
	}
	if n, err := chromedp.Run(attacker, chromedp.Evaluate[int](`document.querySelectorAll("button[value=approve]").length`)); err != nil || n != 0 {
		t.Fatalf("approve buttons in the attacker's browser: %d (%v)", n, err)
	}
	cb.none(t)

	if _, err := chromedp.RunResponse(victim, chromedp.Click(chromedp.CSS(`button[value=approve]`))); err != nil {
		t.Fatal(err)
	}
	q := cb.wait(t)
	if q.Get("code") == "" || q.Get("state") != "victim-state" {
		t.Fatalf("callback got %v, want the victim's code", q)
	}
	tok := demo.exchange(t, c, q.Get("code"))
	at, err := demo.server.as.VerifyAccessToken(context.Background(), tok["access_token"].(string))
	if err != nil || at.Subject != "alice" {
		t.Fatalf("token %+v %v: want subject alice", at, err)
	}
}
