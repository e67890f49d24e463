package provider_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// RFC 9700 §4.11.2: with open registration anyone can register a redirect URI, so an
// error at the authorization endpoint is redirected automatically only to URIs the server
// trusts (static clients, loopback, private-use schemes); for a self-registered web
// redirect URI the user gets an error page with a link instead of being bounced to it.
func TestRFC9700_4_11_2_NoOpenRedirectForRegisteredWebClients(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		add := func(id, redirect string, src provider.ClientSource) {
			t.Helper()
			if err := e.store.CreateClient(e.ctx(), &provider.Client{ID: id, Public: true, Source: src, RedirectURIs: []string{redirect},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"read"}}); err != nil {
				t.Fatal(err)
			}
		}
		const evil = "https://evil.example/phish"
		add("dyn-web", evil, provider.ClientSourceDynamic)
		add("dyn-native", "http://127.0.0.1:50321/cb", provider.ClientSourceDynamic)
		add("dyn-private-use", "com.example.app:/cb", provider.ClientSourceDynamic)
		add("static-web", "https://app.example/cb", provider.ClientSourceStatic)
		for _, tc := range []struct {
			client, redirect string
			auto             bool
		}{
			{"dyn-web", evil, false},
			{"dyn-native", "http://127.0.0.1:50321/cb", true},
			{"dyn-private-use", "com.example.app:/cb", true},
			{"static-web", "https://app.example/cb", true},
		} {
			t.Run(tc.client, func(t *testing.T) {
				q, _ := e.authorizeParams(tc.redirect, url.Values{"client_id": {tc.client}, "code_challenge_method": {"plain"}})
				resp := e.get(e.issuer + "/authorize?" + q.Encode())
				body, _ := io.ReadAll(resp.Body)
				loc := resp.Header.Get("Location")
				if tc.auto {
					if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, tc.redirect) || !strings.Contains(loc, "error=invalid_request") {
						t.Fatalf("status %d Location %q; want an error redirect", resp.StatusCode, loc)
					}
					return
				}
				if resp.StatusCode != http.StatusBadRequest || loc != "" {
					t.Fatalf("status %d Location %q; want an error page", resp.StatusCode, loc)
				}
				// The link carries the error, state and iss for a user who chooses to go back.
				if !strings.Contains(string(body), `href="https://evil.example/phish?error=invalid_request`) || !strings.Contains(string(body), "iss=") {
					t.Fatalf("error page has no link back to the client: %s", body)
				}
			})
		}
	})
}
