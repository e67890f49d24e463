package provider_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestRFC7636_4_6_ChallengeKeptWithTheCode: the code's own row carries the PKCE
// challenge, so an authorization writes no PKCE row, and the token endpoint still
// checks the code_verifier against it (RFC 7636 §4.6): a wrong verifier is refused with
// invalid_grant, the right one gets tokens.
func TestRFC7636_4_6_ChallengeKeptWithTheCode(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		code, verifier := e.code(redirect, nil)
		var rows int64
		if err := e.store.DB().Table("oauth_pkce_requests").Count(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if rows != 0 {
			t.Errorf("%d PKCE rows after an authorization, want 0 (the code's row keeps the challenge)", rows)
		}
		if resp, tok := e.exchange(code, strings.Repeat("a", 43), redirect, nil); resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("wrong code_verifier: %d %q, want 400 invalid_grant", resp.StatusCode, tok.Error)
		}
		code, verifier = e.code(redirect, nil)
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Errorf("right code_verifier: %d %q %q, want 200 with tokens", resp.StatusCode, tok.Error, tok.Description)
		}
	})
}

// TestRFC7636_4_6_CodeWithASeparatePKCERow: a code stored the way earlier versions did
// (the challenge in a PKCE row of its own, not in the code's row) is still checked
// against that row at the token endpoint and can be redeemed with its verifier.
func TestRFC7636_4_6_CodeWithASeparatePKCERow(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		for _, tc := range []struct {
			name     string
			verifier func(right string) string
			status   int
		}{
			{"wrong verifier", func(string) string { return strings.Repeat("a", 43) }, http.StatusBadRequest},
			{"right verifier", func(right string) string { return right }, http.StatusOK},
		} {
			code, verifier := e.code(redirect, nil)
			sig := code[strings.LastIndex(code, ".")+1:]
			req, err := e.store.GetAuthorizeCodeSession(e.ctx(), sig, provider.NewSession(""))
			if err != nil {
				t.Fatal(err)
			}
			if req.GetRequestForm().Get("code_challenge") == "" {
				t.Fatal("the stored code has no code_challenge")
			}
			if err := e.store.CreatePKCERequestSession(e.ctx(), sig, req.Sanitize([]string{"code_challenge", "code_challenge_method"})); err != nil {
				t.Fatal(err)
			}
			if err := e.store.DB().Exec("DELETE FROM oauth_authorization_codes").Error; err != nil {
				t.Fatal(err)
			}
			if err := e.store.CreateAuthorizeCodeSession(e.ctx(), sig, req.Sanitize([]string{"code", "redirect_uri"})); err != nil {
				t.Fatal(err)
			}
			resp, tok := e.exchange(code, tc.verifier(verifier), redirect, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: %d %q %q, want %d", tc.name, resp.StatusCode, tok.Error, tok.Description, tc.status)
			}
		}
	})
}
