package main

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
)

// Password guessing on the login and consent page is limited per address (the library's
// default login limit): the demo wraps its page with mcp.Server.LimitLogin. The refusal
// is a 429 page with Retry-After, never a redirect.
func TestConsentPage_PasswordGuessingRateLimited(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "s", ""))
	token := f.csrf()
	limited := 0
	for i := range mcp.DefaultRateLimits().Login.Burst + 1 {
		resp := f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {token}, "action": {"login"}, "username": {"alice"}, "password": {"guess-" + strconv.Itoa(i)}})
		if resp.StatusCode == http.StatusTooManyRequests {
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("429 redirects to %q", loc)
			}
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
			}
			limited = i + 1
			break
		}
		if i == 0 && resp.StatusCode == http.StatusSeeOther {
			t.Fatal("a wrong password logged in")
		}
		if m := csrfRE.FindStringSubmatch(f.page); m != nil {
			token = m[1]
		}
	}
	// startFlow showed the page once (one request of the burst).
	if limited != mcp.DefaultRateLimits().Login.Burst {
		t.Errorf("password post %d refused, want post %d (the burst of %d less the page view)", limited, mcp.DefaultRateLimits().Login.Burst, mcp.DefaultRateLimits().Login.Burst)
	}
}

func TestServeFlags_RateLimit(t *testing.T) {
	f, err := parseServeFlags(nil, io.Discard)
	if err != nil || !f.rateLimit || rateLimits(f.rateLimit) != nil {
		t.Errorf("default: -rate-limit %v (%v), want on with the library's defaults", f.rateLimit, err)
	}
	f, err = parseServeFlags([]string{"-rate-limit=false"}, io.Discard)
	if rl := rateLimits(f.rateLimit); err != nil || rl == nil || !rl.Disabled {
		t.Errorf("-rate-limit=false: %+v (%v), want Disabled", rl, err)
	}
}
