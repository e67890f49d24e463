package provider_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// wrongVerifier is a well-formed code_verifier (RFC 7636 §4.1) no test code was made for.
var wrongVerifier = strings.Repeat("a", 43)

// pkceRows counts the rows of the PKCE table.
func pkceRows(t *testing.T, e *env) int64 {
	t.Helper()
	var rows int64
	if err := e.store.DB().Table("oauth_pkce_requests").Count(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// legacyCode returns a code stored the way earlier versions did: the challenge in a PKCE
// row of its own, the code's row without it.
func legacyCode(t *testing.T, e *env, redirect string) (code, verifier string) {
	t.Helper()
	code, verifier = e.code(redirect, nil)
	sig := provider.StorageSignature(e.p, code)
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
	return code, verifier
}

// TestRFC7636_4_6_ChallengeKeptWithTheCode: the code's own row carries the PKCE
// challenge, so an authorization writes no PKCE row, and the token endpoint still
// checks the code_verifier against it (RFC 7636 §4.6): a wrong verifier is refused with
// invalid_grant and burns the code (the right one cannot follow it), the right one on a
// fresh code gets tokens.
func TestRFC7636_4_6_ChallengeKeptWithTheCode(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		code, verifier := e.code(redirect, nil)
		if rows := pkceRows(t, e); rows != 0 {
			t.Errorf("%d PKCE rows after an authorization, want 0 (the code's row keeps the challenge)", rows)
		}
		if resp, tok := e.exchange(code, wrongVerifier, redirect, nil); resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("wrong code_verifier: %d %q, want 400 invalid_grant", resp.StatusCode, tok.Error)
		}
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("the right code_verifier after a wrong one: %d %q, want 400 invalid_grant (the code is burnt)", resp.StatusCode, tok.Error)
		}
		code, verifier = e.code(redirect, nil)
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Errorf("right code_verifier: %d %q %q, want 200 with tokens", resp.StatusCode, tok.Error, tok.Description)
		}
	})
}

// TestRFC7636_4_6_CodeWithASeparatePKCERow: a code stored the way earlier versions did
// (the challenge in a PKCE row of its own) is still checked against that row; a wrong
// verifier deletes the row and so burns the code, and a successful exchange deletes it in
// the transaction that issues the tokens.
func TestRFC7636_4_6_CodeWithASeparatePKCERow(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		pkceRow := func(code string) error {
			_, err := e.store.GetPKCERequestSession(e.ctx(), provider.StorageSignature(e.p, code), provider.NewSession(""))
			return err
		}

		code, verifier := legacyCode(t, e, redirect)
		if resp, tok := e.exchange(code, wrongVerifier, redirect, nil); resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Fatalf("wrong code_verifier: %d %q", resp.StatusCode, tok.Error)
		}
		if err := pkceRow(code); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("PKCE row after a wrong code_verifier: %v, want fosite.ErrNotFound", err)
		}
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("the right code_verifier after a wrong one: %d %q, want 400 invalid_grant", resp.StatusCode, tok.Error)
		}

		code, verifier = legacyCode(t, e, redirect)
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("right code_verifier: %d %q %q, want 200 with tokens", resp.StatusCode, tok.Error, tok.Description)
		}
		if err := pkceRow(code); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("PKCE row after the exchange: %v, want fosite.ErrNotFound", err)
		}
	})
}

// codeReads is a Store that counts its reads of authorization codes.
type codeReads struct {
	*gormstore.Store
	n atomic.Int64
}

func (s *codeReads) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	s.n.Add(1)
	return s.Store.GetAuthorizeCodeSession(ctx, signature, session)
}

// TestCodeExchange_ReadsTheCodeOnce: fosite's code handler reads the code when it checks
// the request and again when it issues the tokens, inside the token transaction; the
// provider serves the second read from the first (single use rests on the code's
// conditional invalidation, which the concurrency tests pin). The exchange still issues
// tokens, and the code cannot be used again.
func TestCodeExchange_ReadsTheCodeOnce(t *testing.T) {
	reads := &codeReads{}
	runEnv(t, func(t *testing.T, e *env) {
		reads.n.Store(0)
		redirect := "http://localhost:50999/callback"
		code, verifier := e.code(redirect, nil)
		before := reads.n.Load()
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("exchange: %d %q %q, want 200 with tokens", resp.StatusCode, tok.Error, tok.Description)
		}
		if n := reads.n.Load() - before; n != 1 {
			t.Errorf("the code was read %d times by its exchange, want 1", n)
		}
		if resp, tok := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("the code a second time: %d %q, want 400 invalid_grant", resp.StatusCode, tok.Error)
		}
	}, func(e *env, cfg *provider.Config) {
		reads.Store = e.store
		cfg.Storage = reads
	})
}
