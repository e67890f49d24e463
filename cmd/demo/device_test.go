package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// deviceUser plays the user on another device: a cookie-keeping browser that opens
// verification_uri_complete, confirms the prefilled code, signs in as alice and approves
// (or denies) on the demo's device page.
type deviceUser struct {
	t       *testing.T
	deny    bool
	pages   []string // every page shown, in order
	visited int
}

func (u *deviceUser) open(ctx context.Context, complete string) error {
	u.visited++
	c := pageClient(u.t)
	page := func(resp *http.Response, err error) (string, error) {
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		u.pages = append(u.pages, string(b))
		if resp.StatusCode != http.StatusOK {
			return string(b), fmt.Errorf("%s: %d", resp.Request.URL.Path, resp.StatusCode)
		}
		return string(b), nil
	}
	target, _ := url.Parse(complete)
	action := target.Scheme + "://" + target.Host + target.Path
	body, err := page(c.Get(complete))
	if err != nil {
		return err
	}
	code := target.Query().Get(provider.UserCodeParam)
	if !strings.Contains(body, `value="`+code+`"`) {
		return fmt.Errorf("the code form is not prefilled with %s", code)
	}
	step := func(form url.Values) (string, error) {
		m := csrfRE.FindStringSubmatch(body)
		if m == nil {
			return "", fmt.Errorf("no CSRF token on the page")
		}
		form.Set("csrf_token", m[1])
		form.Set(provider.UserCodeParam, code)
		return page(c.PostForm(action, form))
	}
	if body, err = step(url.Values{"action": {"lookup"}}); err != nil {
		return err
	}
	if body, err = step(url.Values{"action": {"login"}, "username": {"alice"}, "password": {"wonderland"}}); err != nil {
		return err
	}
	decision := "approve"
	if u.deny {
		decision = "deny"
	}
	_, err = step(url.Values{"action": {decision}})
	return err
}

// `client -device` against the demo: discovery, registration for the device grant, the
// URL and code printed, the user approving on the demo's page (code form prefilled from
// verification_uri_complete, login, consent showing client, scopes and MCP server),
// polling, then whoami; the next run reuses the stored tokens. Neither code reaches the
// server's logs.
func TestDemoClientDeviceFlow(t *testing.T) {
	for _, backend := range gormtest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			demo := startDemo(t, demoOptions{db: gormtest.NewDatabase(t, backend)})
			tokens := filepath.Join(t.TempDir(), "tokens.json")
			user := &deviceUser{t: t}
			out, err := demo.runClient(t, clientOptions{TokenFile: tokens, Device: true, OpenURL: user.open})
			if err != nil {
				t.Fatalf("device run: %v\n%s", err, out)
			}
			mustContain(t, "device run", out, "To sign in, open this page on any device:", demo.url+devicePath,
				"and enter the code", "Logged in.", "subject    alice", "scopes     demo:tools\n", "resource   "+demo.mcpURL, "refresh token: yes")
			if len(user.pages) != 4 {
				t.Fatalf("the user saw %d pages, want 4 (code form, sign in, consent, done)", len(user.pages))
			}
			mustContain(t, "consent page", user.pages[2], "fosite-mcp demo client (device)", "demo:tools", demo.mcpURL, "Approve", "Deny")
			mustContain(t, "done page", user.pages[3], "Device connected")
			rec := readStoredLogin(t, tokens, demo.mcpURL)
			code := strings.SplitN(out, "and enter the code\n\n  ", 2)[1][:9] // XXXX-XXXX
			for _, secret := range []string{code, strings.ReplaceAll(code, "-", ""), rec.AccessToken, rec.RefreshToken} {
				if strings.Contains(demo.logs.String(), secret) {
					t.Errorf("the server logs contain %q", secret)
				}
			}

			out, err = demo.runClient(t, clientOptions{TokenFile: tokens, Device: true, OpenURL: user.open})
			if err != nil {
				t.Fatalf("second run: %v\n%s", err, out)
			}
			mustContain(t, "second run", out, "Using the stored login", "subject    alice", "no login needed")
			if user.visited != 1 {
				t.Errorf("the second run asked for a device login again")
			}
		})
	}
}

// Denying on the page ends the client's polling with access_denied.
func TestDemoClientDeviceFlowDenied(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	user := &deviceUser{t: t, deny: true}
	out, err := demo.runClient(t, clientOptions{TokenFile: filepath.Join(t.TempDir(), "tokens.json"), Device: true, OpenURL: user.open})
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("denied run: err %v, want access_denied\n%s", err, out)
	}
	mustContain(t, "done page", user.pages[len(user.pages)-1], "Request denied")
}
