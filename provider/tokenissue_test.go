package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// tokenWriteCountingStore is a real Store that counts how the token endpoint writes
// token responses: at once (IssueTokens), or write by write.
type tokenWriteCountingStore struct {
	*gormstore.Store
	issues, writes atomic.Int64
}

// IssueTokens counts the token response and delegates to the Store.
func (s *tokenWriteCountingStore) IssueTokens(ctx context.Context, iss provider.TokenIssue) error {
	s.issues.Add(1)
	return s.Store.IssueTokens(ctx, iss)
}

// InvalidateAuthorizeCodeSession counts the write and delegates to the Store.
func (s *tokenWriteCountingStore) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	s.writes.Add(1)
	return s.Store.InvalidateAuthorizeCodeSession(ctx, sig)
}

// RotateRefreshToken counts the write and delegates to the Store.
func (s *tokenWriteCountingStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	s.writes.Add(1)
	return s.Store.RotateRefreshToken(ctx, requestID, sig)
}

// RotateRefreshTokenWithGrace counts the write and delegates to the Store.
func (s *tokenWriteCountingStore) RotateRefreshTokenWithGrace(ctx context.Context, requestID, sig string, g provider.RefreshTokenGrace) error {
	s.writes.Add(1)
	return s.Store.RotateRefreshTokenWithGrace(ctx, requestID, sig, g)
}

// CreateAccessTokenSession counts the write and delegates to the Store.
func (s *tokenWriteCountingStore) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	s.writes.Add(1)
	return s.Store.CreateAccessTokenSession(ctx, sig, req)
}

// CreateRefreshTokenSession counts the write and delegates to the Store.
func (s *tokenWriteCountingStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, req fosite.Requester) error {
	s.writes.Add(1)
	return s.Store.CreateRefreshTokenSession(ctx, sig, accessSig, req)
}

// TouchGrant counts the write and delegates to the Store.
func (s *tokenWriteCountingStore) TouchGrant(ctx context.Context, requestID string, at, exp time.Time) error {
	s.writes.Add(1)
	return s.Store.TouchGrant(ctx, requestID, at, exp)
}

// TouchClient counts the write and delegates to the Store.
func (s *tokenWriteCountingStore) TouchClient(ctx context.Context, id string, at time.Time) error {
	s.writes.Add(1)
	return s.Store.TouchClient(ctx, id, at)
}

// TestTokenEndpoint_WritesEachTokenResponseInOneCall: a code exchange and a refresh
// (strict rotation and under the grace window) each write their token response in one
// storage call (IssueTokens: one statement on PostgreSQL instead of a transaction of five
// round trips), and the tokens work as before: the access token is active, the refresh
// token rotates, the grant and the client record their use, and a client credentials
// grant (no code or refresh token consumed) still stores its access token and records
// its client's use on its own.
func TestTokenEndpoint_WritesEachTokenResponseInOneCall(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Minute} {
		var cs *tokenWriteCountingStore
		t.Run("grace="+grace.String(), func(t *testing.T) {
			runEnv(t, func(t *testing.T, e *env) {
				tok := e.tokens(nil)
				if tok.RefreshToken == "" {
					t.Fatal("the code exchange issued no refresh token")
				}
				resp, tok2 := e.refresh(tok.RefreshToken, nil)
				if resp.StatusCode != http.StatusOK || tok2.RefreshToken == "" {
					t.Fatalf("refresh: %d %+v", resp.StatusCode, tok2)
				}
				if i, w := cs.issues.Load(), cs.writes.Load(); i != 2 || w != 0 {
					t.Errorf("a code exchange and a refresh made %d IssueTokens calls and %d other writes; want 2, 0", i, w)
				}
				if in := e.introspect(tok2.AccessToken); !in.Active {
					t.Errorf("the refreshed access token is not active: %+v", in)
				}
				if in := e.introspect(tok.AccessToken); in.Active {
					t.Errorf("the access token issued with the rotated refresh token is still active: %+v", in)
				}
				if resp, tok3 := e.refresh(tok2.RefreshToken, nil); resp.StatusCode != http.StatusOK || tok3.AccessToken == "" {
					t.Errorf("the rotated refresh token's successor: %d %+v", resp.StatusCode, tok3)
				}
				if c, err := e.store.GetClient(t.Context(), e.public.ID); err != nil || c.(*provider.Client).LastUsedAt.IsZero() {
					t.Errorf("the client's use was not recorded: %v", err)
				}
				grants, _, err := e.store.ListGrants(t.Context(), provider.GrantFilter{Subject: testSubject}, "", 10)
				if err != nil || len(grants) != 1 || !grants[0].LastUsedAt.After(grants[0].FirstGrantedAt) {
					t.Errorf("grants after the token responses: %+v, %v; want one, used", grants, err)
				}

				resp = e.postForm(e.issuer+"/token", map[string][]string{"grant_type": {"client_credentials"}}, e.rs.ID, e.rsSecret)
				cc := decode[tokenResponse](t, resp)
				if resp.StatusCode != http.StatusOK || cc.AccessToken == "" || cc.RefreshToken != "" {
					t.Fatalf("client credentials: %d %+v", resp.StatusCode, cc)
				}
				if in := e.introspect(cc.AccessToken); !in.Active {
					t.Errorf("the client credentials access token is not active: %+v", in)
				}
				if i, w := cs.issues.Load(), cs.writes.Load(); i != 3 || w != 2 {
					t.Errorf("after a client credentials grant: %d IssueTokens calls and %d other writes; want 3, 2 (its token and its client's use)", i, w)
				}
			}, func(e *env, cfg *provider.Config) {
				cs = &tokenWriteCountingStore{Store: e.store}
				cfg.Storage = cs
				cfg.RefreshTokenGrace = provider.RefreshTokenGrace{Period: grace}
			})
		})
	}
}

// plainStorage is a real Store seen only through provider.Storage and GrantStore: a
// storage without IssueTokens.
type plainStorage struct {
	provider.Storage
	provider.GrantStore
}

// TestTokenEndpoint_StorageWithoutIssueTokens: with a storage that cannot write a token
// response at once, fosite's handlers write it in one transaction, and the tokens work
// as with IssueTokens; a refresh token is single use.
func TestTokenEndpoint_StorageWithoutIssueTokens(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		resp, tok2 := e.refresh(tok.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK || tok2.RefreshToken == "" {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, tok2)
		}
		if in := e.introspect(tok2.AccessToken); !in.Active {
			t.Errorf("the refreshed access token is not active: %+v", in)
		}
		if resp, _ := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("the rotated refresh token again: %d; want 400", resp.StatusCode)
		}
		grants, _, err := e.store.ListGrants(t.Context(), provider.GrantFilter{Subject: testSubject}, "", 10)
		if err != nil || len(grants) != 1 || !grants[0].LastUsedAt.After(grants[0].FirstGrantedAt) {
			t.Errorf("grants after the token responses: %+v, %v; want one, used", grants, err)
		}
	}, func(e *env, cfg *provider.Config) {
		cfg.Storage = plainStorage{Storage: e.store, GrantStore: e.store}
	})
}

// unavailableIssueStore is a real Store whose IssueTokens fails as a storage outage does
// once down is set.
type unavailableIssueStore struct {
	*gormstore.Store
	down atomic.Bool
}

// IssueTokens fails with provider.ErrStorageUnavailable once down is set.
func (s *unavailableIssueStore) IssueTokens(ctx context.Context, iss provider.TokenIssue) error {
	if s.down.Load() {
		return fmt.Errorf("test outage: %w", provider.ErrStorageUnavailable)
	}
	return s.Store.IssueTokens(ctx, iss)
}

// TestTokenEndpoint_IssueTokensUnavailable: when the storage cannot write a token
// response, the code exchange and the refresh answer 503 temporarily_unavailable with
// Retry-After (never invalid_grant), and the code and refresh token still work once it
// is back: a code whose exchange failed in storage, past a right code_verifier, is not
// burned as a wrong verifier's is.
func TestTokenEndpoint_IssueTokensUnavailable(t *testing.T) {
	var us *unavailableIssueStore
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		redirect := "http://localhost:50123/callback"
		code, verifier := e.code(redirect, nil)
		us.down.Store(true)
		for name, resp := range map[string]*http.Response{
			"exchange": func() *http.Response { r, _ := e.exchange(code, verifier, redirect, nil); return r }(),
			"refresh":  func() *http.Response { r, _ := e.refresh(tok.RefreshToken, nil); return r }(),
		} {
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s during the outage: %d, Retry-After %q; want 503 with Retry-After", name, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		us.down.Store(false)
		if resp, got := e.exchange(code, verifier, redirect, nil); resp.StatusCode != http.StatusOK || got.AccessToken == "" {
			t.Errorf("the code after the outage: %d %+v", resp.StatusCode, got)
		}
		if resp, got := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusOK || got.AccessToken == "" {
			t.Errorf("the refresh token after the outage: %d %+v", resp.StatusCode, got)
		}
	}, func(e *env, cfg *provider.Config) {
		us = &unavailableIssueStore{Store: e.store}
		cfg.Storage = us
	})
}
