package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestRFC7636_4_6_PKCERequestDeletedOnEveryExchange pins where a code's PKCE request
// goes: the provider deletes it in the transaction that issues the tokens, and after an
// exchange that failed once fosite's PKCE handler had reached its delete (a wrong
// code_verifier, RFC 7636 §4.6), so that a wrong verifier still burns the code and no
// PKCE row outlives its exchange.
func TestRFC7636_4_6_PKCERequestDeletedOnEveryExchange(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		pkceRow := func(code string) error {
			sig := code[strings.LastIndex(code, ".")+1:]
			_, err := e.store.GetPKCERequestSession(e.ctx(), sig, provider.NewSession(""))
			return err
		}

		code, verifier := e.code(redirect, nil)
		if err := pkceRow(code); err != nil {
			t.Fatalf("PKCE request of a new code: %v", err)
		}
		if resp, tr := e.exchange(code, strings.Repeat("a", 43), redirect, nil); resp.StatusCode != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("wrong code_verifier: %d %+v", resp.StatusCode, tr)
		}
		if err := pkceRow(code); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("PKCE request after a wrong code_verifier: %v, want fosite.ErrNotFound", err)
		}
		if resp, tr := e.exchange(code, verifier, redirect, nil); resp.StatusCode != 400 || tr.Error != "invalid_grant" {
			t.Errorf("the right code_verifier after a wrong one: %d %+v, want invalid_grant", resp.StatusCode, tr)
		}

		code, verifier = e.code(redirect, nil)
		if resp, tr := e.exchange(code, verifier, redirect, nil); resp.StatusCode != 200 || tr.AccessToken == "" {
			t.Fatalf("exchange: %d %+v", resp.StatusCode, tr)
		}
		if err := pkceRow(code); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("PKCE request after the exchange: %v, want fosite.ErrNotFound", err)
		}
	})
}
