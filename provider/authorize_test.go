package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestRFC6749_4_1_2_1_AuthorizationErrors pins what the authorization endpoint does with
// bad requests: while the client or redirect URI is not established, an error page and
// never a redirect (no open redirector); afterwards the error goes to the redirect URI
// with state and iss (RFC 9207).
func TestRFC6749_4_1_2_1_AuthorizationErrors(t *testing.T) {
	redirect := "http://localhost:50999/callback"
	pageCases := []struct {
		name  string
		extra url.Values
	}{
		{"missing client_id", url.Values{"client_id": nil}},
		{"unknown client", url.Values{"client_id": {"no-such-client"}}},
		{"client_id repeated", url.Values{"client_id": {"public-app", "public-app"}}},
		{"redirect_uri repeated", url.Values{"redirect_uri": {redirect, redirect}}},
		{"unregistered redirect_uri", url.Values{"redirect_uri": {"https://evil.example/callback"}}},
		{"loopback with another path", url.Values{"redirect_uri": {"http://localhost:50999/other"}}},
		{"loopback with another host", url.Values{"redirect_uri": {"http://127.0.0.1:50999/callback"}}},
		{"loopback with https", url.Values{"redirect_uri": {"https://localhost:50999/callback"}}},
		{"redirect_uri with fragment", url.Values{"redirect_uri": {redirect + "#frag"}}},
		{"registered with query, requested without", url.Values{"redirect_uri": {"http://localhost:50999/callback?x=1"}}},
		{"request_uri (not supported)", url.Values{"request_uri": {"https://evil.example/req"}}},
		{"RFC 9126 PAR request_uri (not supported)", url.Values{"request_uri": {"urn:ietf:params:oauth:request_uri:abc"}}},
	}
	redirectCases := []struct {
		name  string
		extra url.Values
		want  string
	}{
		{"scope not allowed for the client", url.Values{"scope": {"read admin"}}, "invalid_scope"},
		{"RFC 7636 §4.4.1 code_challenge missing", url.Values{"code_challenge": nil}, "invalid_request"},
		{"RFC 7636 §4.4.1 method plain", url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		{"RFC 7636 §4.4.1 method missing means plain", url.Values{"code_challenge_method": nil}, "invalid_request"},
		{"RFC 7636 §4.4.1 method unknown", url.Values{"code_challenge_method": {"S512"}}, "invalid_request"},
		{"RFC 7636 §4.2 challenge too short", url.Values{"code_challenge": {"abc"}}, "invalid_request"},
		{"RFC 7636 §4.2 challenge not base64url", url.Values{"code_challenge": {strings.Repeat("+", 43)}}, "invalid_request"},
		{"response_type token", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"response_type missing", url.Values{"response_type": nil}, "unsupported_response_type"},
		{"response_mode fragment", url.Values{"response_mode": {"fragment"}}, "unsupported_response_mode"},
		{"state repeated", url.Values{"state": {"a", "b"}}, "invalid_request"},
		{"scope repeated", url.Values{"scope": {"read", "write"}}, "invalid_request"},
		{"code_challenge repeated", url.Values{"code_challenge": {strings.Repeat("a", 43), strings.Repeat("b", 43)}}, "invalid_request"},
		{"RFC 8707 §2 unknown resource", url.Values{"resource": {"https://unknown.example/mcp"}}, "invalid_target"},
		{"RFC 8707 §2 relative resource", url.Values{"resource": {"/mcp"}}, "invalid_target"},
		{"RFC 8707 §2 resource with fragment", url.Values{"resource": {otherRes + "#x"}}, "invalid_target"},
		{"RFC 8707 §2 one of two resources unknown", url.Values{"resource": {otherRes, "https://unknown.example/"}}, "invalid_target"},
		{"request object", url.Values{"request": {"eyJhbGciOiJub25lIn0.e30."}}, "request_not_supported"},
	}
	runEnv(t, func(t *testing.T, e *env) {
		for _, tc := range pageCases {
			t.Run("page/"+tc.name, func(t *testing.T) {
				q, _ := e.authorizeParams(redirect, tc.extra)
				resp := e.get(e.issuer + "/authorize?" + q.Encode())
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d Location %q, want an error page", resp.StatusCode, resp.Header.Get("Location"))
				}
				checkPageHeaders(t, resp)
			})
		}
		for _, tc := range redirectCases {
			t.Run("redirect/"+tc.name, func(t *testing.T) {
				r := e.authorize(redirect, tc.extra)
				q := r.redirect.Query()
				if got := r.redirect.Scheme + "://" + r.redirect.Host + r.redirect.Path; got != redirect {
					t.Fatalf("redirected to %s", r.redirect)
				}
				if q.Get("error") != tc.want || q.Get("code") != "" {
					t.Fatalf("error %q (%s), want %q", q.Get("error"), q.Get("error_description"), tc.want)
				}
				if q.Get("iss") != e.issuer {
					t.Fatalf("iss %q, want %q (RFC 9207)", q.Get("iss"), e.issuer)
				}
				if st := tc.extra["state"]; st == nil && q.Get("state") != "st-123" {
					t.Fatalf("state %q not returned", q.Get("state"))
				}
			})
		}
		t.Run("wrong method", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, e.issuer+"/authorize", nil)
			resp := e.do(req)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
				t.Fatalf("status %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
			}
		})
		t.Run("POST with a JSON body", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.issuer+"/authorize", strings.NewReader(`{"client_id":"public-app"}`))
			req.Header.Set("Content-Type", "application/json")
			if resp := e.do(req); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("oversized POST body", func(t *testing.T) {
			q, _ := e.authorizeParams(redirect, url.Values{"pad": {strings.Repeat("x", 70<<10)}})
			resp := e.postForm(e.issuer+"/authorize", q, "", "")
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("error page escapes client input and prefers JSON when asked", func(t *testing.T) {
			q, _ := e.authorizeParams(redirect, url.Values{"client_id": {"<script>alert(1)</script>"}})
			resp := e.get(e.issuer + "/authorize?" + q.Encode())
			body, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(body), "<script>") {
				t.Fatalf("unescaped client input in %s", body)
			}
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/authorize?"+q.Encode(), nil)
			req.Header.Set("Accept", "application/json")
			wantJSONError(t, e.do(req), http.StatusBadRequest, "invalid_client")
		})
		t.Run("insecure registered redirect URI gets no redirect", func(t *testing.T) {
			c, err := e.store.LoadClient(context.Background(), e.public.ID)
			if err != nil {
				t.Fatal(err)
			}
			c.ID = "legacy"
			c.RedirectURIs = []string{"http://legacy.example/cb"}
			if err := e.store.CreateClient(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			q, _ := e.authorizeParams("http://legacy.example/cb", url.Values{"client_id": {"legacy"}, "scope": {"admin"}})
			resp := e.get(e.issuer + "/authorize?" + q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	})
}

// TestAuthorizationSuccessVariants pins accepted forms of the authorization request.
func TestAuthorizationSuccessVariants(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		t.Run("OAuth 2.1 §4.1.1 state is optional with PKCE", func(t *testing.T) {
			r := e.authorize(redirect, url.Values{"state": nil})
			q := r.redirect.Query()
			if q.Get("code") == "" || q.Has("state") || q.Get("iss") != e.issuer {
				t.Fatalf("redirect %s", r.redirect)
			}
			if resp, tr := e.exchange(q.Get("code"), r.verifier, redirect, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange %+v", tr)
			}
		})
		t.Run("short state is returned as is", func(t *testing.T) {
			r := e.authorize(redirect, url.Values{"state": {"x"}})
			if q := r.redirect.Query(); q.Get("code") == "" || q.Get("state") != "x" {
				t.Fatalf("redirect %s", r.redirect)
			}
		})
		t.Run("RFC 6749 §3.1 POST to the authorization endpoint", func(t *testing.T) {
			q, verifier := e.authorizeParams(redirect, nil)
			loc := location(t, e.postForm(e.issuer+"/authorize", q, "", ""))
			if loc.Query().Get("code") == "" {
				t.Fatalf("redirect %s", loc)
			}
			if resp, tr := e.exchange(loc.Query().Get("code"), verifier, redirect, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange %+v", tr)
			}
		})
		t.Run("response_mode=query", func(t *testing.T) {
			if q := e.authorize(redirect, url.Values{"response_mode": {"query"}}).redirect.Query(); q.Get("code") == "" {
				t.Fatalf("no code: %v", q)
			}
		})
		t.Run("no scope requested", func(t *testing.T) {
			if q := e.authorize(redirect, url.Values{"scope": nil}).redirect.Query(); q.Get("code") == "" {
				t.Fatalf("no code: %v", q)
			}
		})
		t.Run("RFC 6749 §3.1.2 registered query kept; single redirect URI may be omitted", func(t *testing.T) {
			q, _ := e.authorizeParams("", url.Values{"client_id": {e.conf.ID}, "redirect_uri": nil, "scope": {"nope"}})
			loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode()))
			if loc.Host != "app.example.com" || loc.Query().Get("tenant") != "1" || loc.Query().Get("error") != "invalid_scope" || loc.Query().Get("iss") != e.issuer {
				t.Fatalf("redirect %s", loc)
			}
		})
		t.Run("audience parameter is ignored in favour of resource", func(t *testing.T) {
			if q := e.authorize(redirect, url.Values{"audience": {"https://whatever.example"}}).redirect.Query(); q.Get("code") == "" {
				t.Fatalf("no code: %v", q)
			}
		})
	})
}

// TestRFC9207_IssOnEveryAuthorizationResponse: success, error and denial all carry iss,
// and the metadata advertises it.
func TestRFC9207_IssOnEveryAuthorizationResponse(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		if !e.p.Metadata().AuthorizationResponseISSParameterSupported {
			t.Fatal("authorization_response_iss_parameter_supported not advertised")
		}
		success := e.authorize(redirect, nil).redirect
		failure := e.authorize(redirect, url.Values{"scope": {"admin"}}).redirect
		q, _ := e.authorizeParams(redirect, nil)
		id, browser := e.pending(q)
		u, err := e.p.Deny(browser, id)
		if err != nil {
			t.Fatal(err)
		}
		denied, _ := url.Parse(u)
		for name, loc := range map[string]*url.URL{"success": success, "error": failure, "access_denied": denied} {
			if loc.Query().Get("iss") != e.issuer {
				t.Errorf("%s redirect %s lacks iss", name, loc)
			}
		}
		if denied.Query().Get("error") != "access_denied" || denied.Query().Get("state") != "st-123" {
			t.Errorf("denial %s", denied)
		}
	}, withLogin())
}

// TestConsentAPI pins AuthorizationRequest, Approve and Deny.
func TestConsentAPI(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		pending := func(extra url.Values) (string, *http.Request) {
			q, _ := e.authorizeParams(redirect, extra)
			return e.pending(q)
		}
		id, browser := pending(url.Values{"scope": {"read write"}})
		req, err := e.p.AuthorizationRequest(browser, id)
		if err != nil {
			t.Fatal(err)
		}
		if req.ID != id || req.ClientID != e.public.ID || req.ClientName != "Public App" || req.RedirectURI != redirect ||
			req.RedirectHost != "localhost:50999" || strings.Join(req.Scopes, " ") != "read write" ||
			strings.Join(req.Resources, " ") != e.resource || req.LocalhostOnly || req.ExpiresAt.IsZero() ||
			req.Client == nil || req.Client.SecretHash != nil {
			t.Fatalf("request %+v", req)
		}
		if _, err := e.p.Approve(browser, id, testSubject, []string{"read", "admin"}); !errors.Is(err, provider.ErrScopeNotRequested) {
			t.Fatalf("granting an unrequested scope: %v", err)
		}
		if _, err := e.p.Approve(browser, id, "", nil); err == nil {
			t.Fatal("approval without a subject")
		}
		u, err := e.p.Approve(browser, id, testSubject, []string{"read"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.Approve(browser, id, testSubject, []string{"read"}); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("second approval: %v", err)
		}
		if _, err := e.p.Deny(browser, id); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("deny after approval: %v", err)
		}
		if _, err := e.p.AuthorizationRequest(browser, id); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("lookup after approval: %v", err)
		}
		loc, _ := url.Parse(u)
		if loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-123" || loc.Query().Get("iss") != e.issuer {
			t.Fatalf("approval redirect %s", u)
		}
		if _, err := e.p.AuthorizationRequest(browser, "nonsense"); !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
			t.Fatalf("unknown id: %v", err)
		}

		// Granted scopes are a subset: the token carries only what was granted.
		q, verifier := e.authorizeParams(redirect, url.Values{"scope": {"read write"}})
		id, browser = e.pending(q)
		if u, err = e.p.Approve(browser, id, testSubject, []string{"write"}); err != nil {
			t.Fatal(err)
		}
		loc, _ = url.Parse(u)
		if resp, tr := e.exchange(loc.Query().Get("code"), verifier, redirect, nil); resp.StatusCode != http.StatusOK || tr.Scope != "write" {
			t.Fatalf("exchange %d %+v, want scope write", resp.StatusCode, tr)
		}

		// Concurrent approvals of one request: exactly one wins.
		id, browser = pending(nil)
		results := make(chan error, 10)
		for range 10 {
			go func() {
				_, err := e.p.Approve(browser, id, testSubject, nil)
				results <- err
			}()
		}
		wins := 0
		for range 10 {
			if err := <-results; err == nil {
				wins++
			} else if !errors.Is(err, provider.ErrAuthorizationRequestNotFound) {
				t.Errorf("concurrent approval: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d concurrent approvals won, want 1", wins)
		}
	}, withLogin())
}
