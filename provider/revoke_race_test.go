package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// slowTokenInserts makes every access token INSERT on PostgreSQL take 300 ms (as on a loaded
// database), so that a refresh holds its transaction open, the presented token's row locked
// and its new tokens not yet inserted, while a concurrent request runs. SQLite serializes
// writers; there the requests run as they come.
func slowTokenInserts(t *testing.T, s *gormstore.Store) {
	t.Helper()
	if s.Dialect() != "postgres" {
		return
	}
	for _, q := range []string{
		`CREATE OR REPLACE FUNCTION slow_token_insert() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$ LANGUAGE plpgsql`,
		`CREATE TRIGGER slow_token_insert BEFORE INSERT ON oauth_access_tokens FOR EACH ROW EXECUTE FUNCTION slow_token_insert()`,
	} {
		if err := s.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// refreshDuring runs a refresh with rt and, 100 ms into it, during(); it returns the refresh's
// status and response.
func (e *env) refreshDuring(rt string, during func()) (int, tokenResponse) {
	var (
		wg     sync.WaitGroup
		status int
		tok    tokenResponse
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.public.ID}}
		resp, err := e.srv.Client().PostForm(e.issuer+"/token", form)
		if err != nil {
			e.t.Error(err)
			return
		}
		defer resp.Body.Close()
		status, tok = resp.StatusCode, decode[tokenResponse](e.t, resp)
	}()
	time.Sleep(100 * time.Millisecond) // the refresh has rotated rt and is inserting its new tokens
	during()
	wg.Wait()
	return status, tok
}

// assertGrantDead fails t if a token the racing refresh minted still works.
func (e *env) assertGrantDead(t *testing.T, status int, minted tokenResponse) {
	t.Helper()
	if status != http.StatusOK {
		t.Logf("the racing refresh failed (%d %s): nothing was minted", status, minted.Error)
		return
	}
	if _, err := e.p.VerifyAccessToken(context.Background(), minted.AccessToken); err == nil {
		t.Error("the access token minted by the racing refresh still works after the grant was revoked")
	}
	if resp, tok := e.refresh(minted.RefreshToken, nil); resp.StatusCode == http.StatusOK {
		t.Errorf("the refresh token minted by the racing refresh still works after the grant was revoked (got %s)", tok.TokenType)
	}
}

// TestRFC7009_2_1_RevocationRacingRefresh pins RFC 7009 §2.1/§2.2 against a concurrent
// refresh: once the revocation endpoint answered 200 for a refresh token, no token of the
// grant works, not even the pair a refresh that was in flight meanwhile minted. The same
// holds for reuse detection (RFC 6819 §5.2.2.3, OAuth 2.1 §4.3.1) racing a refresh, and for a
// revocation racing a reuse within a grace window (a second token chain).
func TestRFC7009_2_1_RevocationRacingRefresh(t *testing.T) {
	gracePeriod := func(_ *env, cfg *provider.Config) {
		cfg.RefreshTokenGrace = provider.RefreshTokenGrace{Period: time.Minute}
	}
	t.Run("revocation during a refresh", func(t *testing.T) {
		gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
			e := newEnv(t, s)
			tok := e.tokens(nil)
			slowTokenInserts(t, s)
			var revoked *http.Response
			status, minted := e.refreshDuring(tok.RefreshToken, func() {
				revoked = e.postForm(e.issuer+"/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {e.public.ID}}, "", "")
			})
			if revoked.StatusCode != http.StatusOK {
				t.Fatalf("revocation: %d; want 200", revoked.StatusCode)
			}
			e.assertGrantDead(t, status, minted)
		})
	})
	t.Run("revocation of the rotated token after the refresh", func(t *testing.T) {
		// The order the database chose: the refresh committed before the revocation read
		// the token. The client revoked the token it held; its grant goes.
		runEnv(t, func(t *testing.T, e *env) {
			tok := e.tokens(nil)
			resp, next := e.refresh(tok.RefreshToken, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
			}
			if resp := e.postForm(e.issuer+"/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {e.conf.ID}}, e.conf.ID, e.confSecret); resp.StatusCode != http.StatusOK {
				t.Fatalf("another client's revocation: %d; want 200", resp.StatusCode)
			}
			if _, err := e.p.VerifyAccessToken(context.Background(), next.AccessToken); err != nil {
				t.Fatalf("another client's revocation of the rotated token revoked the grant: %v", err)
			}
			if resp := e.postForm(e.issuer+"/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {e.public.ID}}, "", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("revocation: %d; want 200", resp.StatusCode)
			}
			e.assertGrantDead(t, http.StatusOK, next)
		})
	})
	t.Run("reuse detection during a refresh", func(t *testing.T) {
		gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
			e := newEnv(t, s)
			tok := e.tokens(nil)
			resp, next := e.refresh(tok.RefreshToken, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
			}
			slowTokenInserts(t, s)
			var reuse *http.Response
			var reused tokenResponse
			status, minted := e.refreshDuring(next.RefreshToken, func() {
				reuse, reused = e.refresh(tok.RefreshToken, nil) // the rotated token again
			})
			if reuse.StatusCode != http.StatusBadRequest || reused.Error != "invalid_grant" {
				t.Fatalf("reuse of a rotated refresh token: %d %+v; want invalid_grant", reuse.StatusCode, reused)
			}
			e.assertGrantDead(t, status, minted)
		})
	})
	t.Run("revocation during a reuse within the grace window", func(t *testing.T) {
		gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
			e := newEnv(t, s, gracePeriod)
			tok := e.tokens(nil)
			resp, next := e.refresh(tok.RefreshToken, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
			}
			slowTokenInserts(t, s)
			var revoked *http.Response
			status, minted := e.refreshDuring(tok.RefreshToken, func() { // a second chain
				revoked = e.postForm(e.issuer+"/revoke", url.Values{"token": {next.RefreshToken}, "client_id": {e.public.ID}}, "", "")
			})
			if revoked.StatusCode != http.StatusOK {
				t.Fatalf("revocation: %d; want 200", revoked.StatusCode)
			}
			e.assertGrantDead(t, status, minted)
			if resp, _ := e.refresh(next.RefreshToken, nil); resp.StatusCode == http.StatusOK {
				t.Error("the revoked refresh token still works")
			}
		})
	})
}
