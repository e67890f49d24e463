package provider_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// tokenWriteCountingStore is a real Store that counts how the token endpoint stores
// access and refresh tokens: one by one, or both in one call (CreateTokenSessions).
type tokenWriteCountingStore struct {
	*gormstore.Store
	access, refresh, pairs atomic.Int64
}

// CreateAccessTokenSession counts the insert and delegates to the Store.
func (s *tokenWriteCountingStore) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	s.access.Add(1)
	return s.Store.CreateAccessTokenSession(ctx, sig, req)
}

// CreateRefreshTokenSession counts the insert and delegates to the Store.
func (s *tokenWriteCountingStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, req fosite.Requester) error {
	s.refresh.Add(1)
	return s.Store.CreateRefreshTokenSession(ctx, sig, accessSig, req)
}

// CreateTokenSessions counts the pair and delegates to the Store.
func (s *tokenWriteCountingStore) CreateTokenSessions(ctx context.Context, accessSig string, accessReq fosite.Requester, refreshSig string, refreshReq fosite.Requester) error {
	s.pairs.Add(1)
	return s.Store.CreateTokenSessions(ctx, accessSig, accessReq, refreshSig, refreshReq)
}

// TestTokenEndpoint_StoresAccessAndRefreshTokenInOneCall: a code exchange and a refresh
// store their access and refresh tokens in one storage call (one statement on PostgreSQL
// instead of two), and the tokens work as before: the access token is active, the refresh
// token rotates, and a client credentials grant (no refresh token) still stores its access
// token on its own.
func TestTokenEndpoint_StoresAccessAndRefreshTokenInOneCall(t *testing.T) {
	var cs *tokenWriteCountingStore
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		if tok.RefreshToken == "" {
			t.Fatal("the code exchange issued no refresh token")
		}
		resp, tok2 := e.refresh(tok.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK || tok2.RefreshToken == "" {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, tok2)
		}
		if a, r, p := cs.access.Load(), cs.refresh.Load(), cs.pairs.Load(); a != 0 || r != 0 || p != 2 {
			t.Errorf("a code exchange and a refresh made %d access, %d refresh token inserts and %d pairs; want 0, 0, 2", a, r, p)
		}
		if in := e.introspect(tok2.AccessToken); !in.Active {
			t.Errorf("the refreshed access token is not active: %+v", in)
		}
		if resp, tok3 := e.refresh(tok2.RefreshToken, nil); resp.StatusCode != http.StatusOK || tok3.AccessToken == "" {
			t.Errorf("the rotated refresh token's successor: %d %+v", resp.StatusCode, tok3)
		}

		resp = e.postForm(e.issuer+"/token", map[string][]string{"grant_type": {"client_credentials"}}, e.rs.ID, e.rsSecret)
		cc := decode[tokenResponse](t, resp)
		if resp.StatusCode != http.StatusOK || cc.AccessToken == "" || cc.RefreshToken != "" {
			t.Fatalf("client credentials: %d %+v", resp.StatusCode, cc)
		}
		if in := e.introspect(cc.AccessToken); !in.Active {
			t.Errorf("the client credentials access token is not active: %+v", in)
		}
	}, func(e *env, cfg *provider.Config) {
		cs = &tokenWriteCountingStore{Store: e.store}
		cfg.Storage = cs
	})
}
