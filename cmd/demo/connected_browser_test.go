package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fosite-mcp/fosite-mcp/mcp"
)

// connectedAppsScreenshot is the Connected apps page screenshot the README shows.
var connectedAppsScreenshot = filepath.Join("..", "..", "docs", "connected-apps.png")

// The Connected apps page in a real browser: the demo client logs in (login and consent
// in Chromium), the page lists it, Revoke signs it out at once — its stored access token
// gets 401 from the MCP endpoint and its refresh token is refused, so its next run must
// send the user through the authorization (and the consent page) again. A client
// approved once skips the consent page on its next authorization request (remembered
// consent, provider.Config.RememberConsent).
func TestBrowserConnectedAppsRevoke(t *testing.T) {
	browser := newBrowser(t)
	// Limits off: a quick machine sends the login, consent and Connected apps page views
	// of three logins within the login limit's burst (its tests are in pages_test.go).
	demo := startDemo(t, demoOptions{rateLimits: &mcp.RateLimits{Disabled: true}})
	tokens := filepath.Join(t.TempDir(), "tokens.json")

	login := func(name string, inBrowser func(ctx context.Context, authURL string) error) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var openErr error
		opened := 0
		open := func(_ context.Context, authURL string) error {
			opened++
			if openErr = inBrowser(within(t, browser, time.Minute), authURL); openErr != nil {
				cancel()
			}
			return openErr
		}
		var out strings.Builder
		err := runClient(ctx, clientOptions{URL: demo.mcpURL, TokenFile: tokens, OpenURL: open, CallbackAddr: "127.0.0.1:0", LoginTimeout: time.Minute}, &out)
		if openErr != nil || err != nil {
			t.Fatalf("%s: browser %v, client %v\n%s", name, openErr, err, out.String())
		}
		if opened != 1 {
			t.Fatalf("%s: browser opened %d times, want 1 (a new login)\n%s", name, opened, out.String())
		}
		return out.String()
	}
	login("first login", func(ctx context.Context, authURL string) error { return approveInBrowser(t, ctx, demo, authURL) })
	stored := readStoredLogin(t, tokens, demo.mcpURL)
	if status := mcpStatus(t, demo, stored.AccessToken); status != http.StatusOK {
		t.Fatalf("MCP call with the fresh token: %d", status)
	}

	ctx := within(t, browser, time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate(demo.url+connectedAppsPath), chromedp.WaitVisible(chromedp.CSS(`ul.apps`))); err != nil {
		t.Fatalf("connected apps page: %v", err)
	}
	apps, _ := text(ctx, "ul.apps")
	for _, want := range []string{"fosite-mcp demo client", scopeTools, "last used", "approval remembered until"} {
		if !strings.Contains(apps, want) {
			t.Errorf("connected apps list %q lacks %q", apps, want)
		}
	}
	if err := checkPhoneLayout(ctx); err != nil {
		t.Error(err)
	}
	if os.Getenv(envUpdateScreenshots) == "1" {
		if err := saveScreenshot(ctx, connectedAppsScreenshot); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", connectedAppsScreenshot)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`ul.apps button[value=revoke]`)))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("revoking: %v (%v)", err, resp)
	}
	if msg, _ := text(ctx, ".notice.info"); !strings.Contains(msg, "Access revoked") {
		t.Errorf("after Revoke the page says %q", msg)
	}
	if page, _ := text(ctx, "main"); !strings.Contains(page, "No application has access") {
		t.Errorf("after Revoke the page still lists: %q", page)
	}

	// The revoked client's next MCP call: 401.
	if status := mcpStatus(t, demo, stored.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("MCP call with a revoked grant's token: %d, want 401", status)
	}
	// Its next run cannot refresh: a new login, where the consent page asks again.
	expireStoredLogin(t, tokens, demo.mcpURL)
	login("after revocation", func(ctx context.Context, authURL string) error {
		if err := chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`))); err != nil {
			return fmt.Errorf("the consent page did not ask again: %w", err)
		}
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value=approve]`)), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	})
	if status := mcpStatus(t, demo, readStoredLogin(t, tokens, demo.mcpURL).AccessToken); status != http.StatusOK {
		t.Errorf("MCP call after logging in again: %d", status)
	}

	// Remembered consent: a client approved once skips the consent page on its next
	// authorization request (the user is still signed in), straight to its callback.
	ctx = within(t, browser, time.Minute)
	cb := newCallbackServer(t)
	c := demo.register(t, "Remembered App", cb.redirectURI(), nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(demo.authorizeURL(c, "first", "")), chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`)),
		chromedp.Click(chromedp.CSS(`button[value=approve]`)), chromedp.WaitVisible(chromedp.CSS(`#done`))); err != nil {
		t.Fatalf("first approval of Remembered App: %v", err)
	}
	if got := codeAt(t, cb); got.Get("state") != "first" {
		t.Fatalf("first approval: %v", got)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(demo.authorizeURL(c, "second", "")), chromedp.WaitVisible(chromedp.CSS(`#done`))); err != nil {
		t.Fatalf("remembered consent: %v", err)
	}
	at, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(at, cb.URL) {
		t.Errorf("remembered consent: the browser stopped at %s, want the client's callback", at)
	}
	got := codeAt(t, cb)
	if got.Get("state") != "second" {
		t.Fatalf("remembered approval: %v", got)
	}
	demo.exchange(t, c, got.Get("code"))
}

// codeAt waits for the next authorization response carrying a code at cb (skipping the
// browser's other requests, such as /favicon.ico).
func codeAt(t *testing.T, cb *callbackServer) url.Values {
	t.Helper()
	for {
		if q := cb.wait(t); q.Get("code") != "" {
			return q
		}
	}
}

// mcpStatus is the status of an MCP initialize request with token.
func mcpStatus(t *testing.T, demo *testDemo, token string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, demo.mcpURL, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
