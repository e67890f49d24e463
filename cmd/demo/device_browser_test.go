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

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// deviceScreenshotPath is the device page screenshot the README shows.
var deviceScreenshotPath = filepath.Join("..", "..", "docs", "device.png")

// `client -device` with the user in a real browser: verification_uri_complete shows the
// code form prefilled (nothing approved yet), Continue → sign in → the consent page names
// the client, shows the code to compare, the scopes and the MCP server, fits a phone
// screen; Approve → the client's polling gets the tokens. Its screenshot is the README's
// (UPDATE_SCREENSHOTS=1).
func TestBrowserDeviceFlowApprove(t *testing.T) {
	browser := newBrowser(t)
	demo := startDemo(t, demoOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var openErr error
	open := func(_ context.Context, complete string) error {
		openErr = approveDeviceInBrowser(t, within(t, browser, time.Minute), demo, complete)
		if openErr != nil {
			cancel() // stop the client's polling
		}
		return openErr
	}
	var out strings.Builder
	err := runClient(ctx, clientOptions{URL: demo.mcpURL, TokenFile: filepath.Join(t.TempDir(), "tokens.json"), Device: true,
		OpenURL: open, HTTPClient: http.DefaultClient}, &out)
	if openErr != nil {
		t.Fatalf("browser: %v\nclient output:\n%s", openErr, out.String())
	}
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out.String())
	}
	mustContain(t, "client output", out.String(), "and enter the code", "Logged in.", "subject    alice", "scopes     demo:tools")
}

func approveDeviceInBrowser(t *testing.T, ctx context.Context, demo *testDemo, complete string) error {
	u, err := url.Parse(complete)
	if err != nil {
		return err
	}
	code := u.Query().Get(provider.UserCodeParam)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(complete))
	if err != nil {
		return fmt.Errorf("opening verification_uri_complete: %w", err)
	}
	if resp.Status != http.StatusOK {
		return fmt.Errorf("verification page: HTTP %d", resp.Status)
	}
	prefilled, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#user_code`)))
	if err != nil || prefilled != code {
		return fmt.Errorf("code field holds %q (%v), want the prefilled %s", prefilled, err, code)
	}
	if resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value=lookup]`))); err != nil || resp.Status != http.StatusOK {
		return fmt.Errorf("continuing with the code: %v", err)
	}
	if h, _ := text(ctx, "h1"); h != "Sign in" {
		return fmt.Errorf("after the code: heading %q, want the sign-in form", h)
	}
	if err := browserLogin(ctx, "alice", "wonderland"); err != nil {
		return err
	}
	h1, _ := text(ctx, "h1")
	warning, _ := text(ctx, ".notice.warn")
	scopes, _ := text(ctx, "ul.scopes")
	resources, _ := text(ctx, "ul.resources")
	switch {
	case !strings.Contains(h1, "fosite-mcp demo client (device)"):
		return fmt.Errorf("consent heading %q does not name the client", h1)
	case !strings.Contains(warning, code):
		return fmt.Errorf("consent warning %q does not show the code to compare", warning)
	case !strings.Contains(scopes, scopeTools):
		return fmt.Errorf("consent scopes %q", scopes)
	case !strings.Contains(resources, demo.mcpURL):
		return fmt.Errorf("consent resources %q do not name the MCP server", resources)
	}
	if err := checkPhoneLayout(ctx); err != nil {
		return err
	}
	if os.Getenv(envUpdateScreenshots) == "1" {
		if err := saveScreenshot(ctx, deviceScreenshotPath); err != nil {
			return err
		}
		t.Logf("wrote %s", deviceScreenshotPath)
	}
	if resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[value=approve]`))); err != nil || resp.Status != http.StatusOK {
		return fmt.Errorf("approving: %v", err)
	}
	if done, _ := text(ctx, "h1"); done != "Device connected" {
		return fmt.Errorf("after approving: heading %q", done)
	}
	return nil
}
