package provider_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// readCountingStore is a real Store that counts the access token reads VerifyAccessToken
// makes, so that tests can tell a verification served from the cache from one that read
// the database.
type readCountingStore struct {
	*gormstore.Store
	reads atomic.Int64
}

// GetAccessTokenSession counts the read and delegates to the Store.
func (s *readCountingStore) GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	s.reads.Add(1)
	return s.Store.GetAccessTokenSession(ctx, sig, session)
}

// withReadCounting hands the provider e.store behind a readCountingStore, returned in *cs.
func withReadCounting(cs **readCountingStore) envOption {
	return func(e *env, cfg *provider.Config) {
		*cs = &readCountingStore{Store: e.store}
		cfg.Storage = *cs
	}
}

// wantCached verifies tok twice and fails unless the second verification was served from
// memory, so that a later refusal shows an invalidation rather than an empty cache.
func wantCached(t *testing.T, e *env, cs *readCountingStore, access string) {
	t.Helper()
	if _, err := e.p.VerifyAccessToken(e.ctx(), access); err != nil {
		t.Fatalf("VerifyAccessToken of a live token: %v", err)
	}
	before := cs.reads.Load()
	if _, err := e.p.VerifyAccessToken(e.ctx(), access); err != nil {
		t.Fatalf("VerifyAccessToken of a live token, again: %v", err)
	}
	if n := cs.reads.Load() - before; n != 0 {
		t.Fatalf("the second verification read storage %d times; want it served from the cache", n)
	}
}

// wantRefusedNow checks that the very next verification of access refuses it.
func wantRefusedNow(t *testing.T, e *env, access, after string) {
	t.Helper()
	if _, err := e.p.VerifyAccessToken(e.ctx(), access); !errors.Is(err, provider.ErrInvalidToken) {
		t.Errorf("VerifyAccessToken right after %s: %v, want ErrInvalidToken", after, err)
	}
}

// revokeToken calls the RFC 7009 endpoint as the public client.
func revokeToken(t *testing.T, e *env, token string) {
	t.Helper()
	resp := e.postForm(e.issuer+"/revoke", url.Values{"token": {token}, "client_id": {e.public.ID}}, "", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: %d", resp.StatusCode)
	}
}

// Issue 9's constraint on caches: a verified token served from memory is refused at once
// after every revocation path of the same process — RFC 7009 for an access token and for a
// refresh token (§2.1: the grant's access tokens go too), refresh rotation (strict, and with
// a grace window), refresh token reuse detection (OAuth 2.1 §4.3.1) revoking the family,
// RevokeGrant, RevokeAllGrants, RevokeClientGrants, an RFC 7592 update (the cache is voided:
// the next verification reads storage), an RFC 7592 delete and DeleteClient.
func TestVerifiedTokenCache_RevocationPathsTakeEffectAtOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		var cs *readCountingStore
		e := newEnv(t, s, withReadCounting(&cs))
		ctx := e.ctx()

		tok := e.tokens(nil)
		wantCached(t, e, cs, tok.AccessToken)
		revokeToken(t, e, tok.AccessToken)
		wantRefusedNow(t, e, tok.AccessToken, "RFC 7009 revocation of the access token")

		tok = e.tokens(nil)
		wantCached(t, e, cs, tok.AccessToken)
		revokeToken(t, e, tok.RefreshToken)
		wantRefusedNow(t, e, tok.AccessToken, "RFC 7009 revocation of the refresh token")

		tok = e.tokens(nil)
		wantCached(t, e, cs, tok.AccessToken)
		if resp, next := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
		} else {
			wantRefusedNow(t, e, tok.AccessToken, "refresh rotation")
			wantCached(t, e, cs, next.AccessToken)
			if resp, _ := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("reuse of a rotated refresh token: %d, want 400", resp.StatusCode)
			}
			wantRefusedNow(t, e, next.AccessToken, "refresh token reuse detection")
		}

		revokeGrants := map[string]func() error{
			"RevokeGrant": func() error {
				page, err := e.p.ListGrants(ctx, testSubject, nil)
				if err != nil || len(page.Grants) == 0 {
					return errors.Join(err, errors.New("no grant listed"))
				}
				return e.p.RevokeGrant(ctx, testSubject, page.Grants[0].ID)
			},
			"RevokeAllGrants": func() error {
				_, err := e.p.RevokeAllGrants(ctx, testSubject)
				return err
			},
			"RevokeClientGrants": func() error {
				_, err := e.p.RevokeClientGrants(ctx, e.public.ID)
				return err
			},
		}
		for _, name := range []string{"RevokeGrant", "RevokeAllGrants", "RevokeClientGrants"} {
			tok = e.tokens(nil)
			wantCached(t, e, cs, tok.AccessToken)
			if err := revokeGrants[name](); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wantRefusedNow(t, e, tok.AccessToken, name)
		}

		// RFC 7592 update: the token stays valid, but nothing cached before is served.
		const registrationToken = "registration-access-token"
		hash := sha256.Sum256([]byte(registrationToken))
		tok = e.tokens(nil)
		c, err := s.LoadClient(ctx, e.public.ID)
		if err != nil {
			t.Fatal(err)
		}
		c.RegistrationAccessTokenHash = hash[:]
		if err := s.UpdateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		wantCached(t, e, cs, tok.AccessToken)
		c.Name = "Renamed App"
		if err := s.UpdateClientIfRegistrationToken(ctx, c, hash[:]); err != nil {
			t.Fatal(err)
		}
		before := cs.reads.Load()
		if _, err := e.p.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
			t.Fatalf("VerifyAccessToken after an RFC 7592 update: %v", err)
		}
		if cs.reads.Load() == before {
			t.Error("the verification after an RFC 7592 update was served from the cache; want a storage read")
		}

		wantCached(t, e, cs, tok.AccessToken)
		if err := s.DeleteClientIfRegistrationToken(ctx, e.public.ID, hash[:]); err != nil {
			t.Fatal(err)
		}
		wantRefusedNow(t, e, tok.AccessToken, "RFC 7592 client deletion")

		// DeleteClient, on the confidential client's client_credentials token.
		resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {"client_credentials"}, "resource": {e.resource}}, e.conf.ID, e.confSecret)
		cc := decode[tokenResponse](t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("client_credentials: %d %+v", resp.StatusCode, cc)
		}
		wantCached(t, e, cs, cc.AccessToken)
		if err := s.DeleteClient(ctx, e.conf.ID); err != nil {
			t.Fatal(err)
		}
		wantRefusedNow(t, e, cc.AccessToken, "DeleteClient")
	})
}

// With compat's grace window (what mcp.New configures), a rotation deletes the presented
// refresh token's access token: a cached copy is refused at once too.
func TestVerifiedTokenCache_GraceRotationTakesEffectAtOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		var cs *readCountingStore
		e := newEnv(t, s, withReadCounting(&cs), func(_ *env, cfg *provider.Config) {
			cfg.RefreshTokenGrace = provider.RefreshTokenGrace{Period: 30 * time.Second}
		})
		tok := e.tokens(nil)
		wantCached(t, e, cs, tok.AccessToken)
		if resp, next := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
		}
		wantRefusedNow(t, e, tok.AccessToken, "a rotation within the grace window")
	})
}

// Another replica (a second Provider on its own Store, same database) revokes: the
// revocation takes effect there at once and here within DefaultVerifiedTokenCacheTTL,
// which stays within issue 9's documented bound of 5 s.
func TestVerifiedTokenCache_OtherReplicaWithinTTL(t *testing.T) {
	if provider.DefaultVerifiedTokenCacheTTL <= 0 || provider.DefaultVerifiedTokenCacheTTL > 5*time.Second {
		t.Fatalf("DefaultVerifiedTokenCacheTTL = %v; the documented bound for other replicas is 5 s", provider.DefaultVerifiedTokenCacheTTL)
	}
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		var cs *readCountingStore
		e := newEnv(t, db.Open(t, opts), withReadCounting(&cs))
		replica, err := provider.New(provider.Config{
			Issuer: e.issuer, Storage: db.Open(t, opts), GlobalSecret: []byte("0123456789abcdef0123456789abcdef-test"),
			Scopes: []string{"read", "write"}, Resources: []string{e.resource, otherRes},
			Authenticator: provider.AuthenticatorFunc(nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		tok := e.tokens(nil)
		wantCached(t, e, cs, tok.AccessToken)
		page, err := replica.ListGrants(e.ctx(), testSubject, nil)
		if err != nil || len(page.Grants) != 1 {
			t.Fatalf("replica ListGrants: %+v %v", page, err)
		}
		if err := replica.RevokeGrant(e.ctx(), testSubject, page.Grants[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := replica.VerifyAccessToken(e.ctx(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
			t.Errorf("the revoking replica: %v, want ErrInvalidToken at once", err)
		}
		waitRefused(t, e.p, tok.AccessToken, provider.DefaultVerifiedTokenCacheTTL, "the other replica refuses the revoked token")
	})
}

// waitRefused polls p until it refuses access, failing after bound (plus scheduling slack).
func waitRefused(t *testing.T, p *provider.Provider, access string, bound time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(bound + 250*time.Millisecond)
	for {
		_, err := p.VerifyAccessToken(context.Background(), access)
		if errors.Is(err, provider.ErrInvalidToken) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A token deleted behind the Store's back (as another replica's write looks to this
// process) is served from the cache until the TTL ends; with a negative TTL nothing is
// cached and it is refused at once, every verification reading storage.
func TestVerifiedTokenCache_TTLAndOff(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const ttl = 400 * time.Millisecond
		var cs *readCountingStore
		on := newEnv(t, s, withReadCounting(&cs), func(_ *env, cfg *provider.Config) { cfg.VerifiedTokenCacheTTL = ttl })
		tok := on.tokens(nil)
		wantCached(t, on, cs, tok.AccessToken)
		if err := s.DB().Exec("DELETE FROM oauth_access_tokens").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := on.p.VerifyAccessToken(on.ctx(), tok.AccessToken); err != nil {
			t.Fatalf("a cached token deleted by another writer, within the TTL: %v; want it served", err)
		}
		waitRefused(t, on.p, tok.AccessToken, ttl, "the deleted token after the TTL")

		off, err := provider.New(provider.Config{
			Issuer: on.issuer, Storage: cs, GlobalSecret: []byte("0123456789abcdef0123456789abcdef-test"),
			Scopes: []string{"read", "write"}, Resources: []string{on.resource, otherRes}, VerifiedTokenCacheTTL: -1,
			Authenticator: provider.AuthenticatorFunc(nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		tok = on.tokens(nil)
		before := cs.reads.Load()
		for range 3 {
			if _, err := off.VerifyAccessToken(on.ctx(), tok.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		if n := cs.reads.Load() - before; n != 3 {
			t.Errorf("cache off: 3 verifications read storage %d times, want 3", n)
		}
		if err := s.DB().Exec("DELETE FROM oauth_access_tokens").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := off.VerifyAccessToken(on.ctx(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
			t.Errorf("cache off, token deleted: %v, want ErrInvalidToken at once", err)
		}
	})
}

// The cache holds at most VerifiedTokenCacheSize tokens: of more tokens verified in turn,
// verifying them all again reads at least the excess from storage.
func TestVerifiedTokenCache_SizeCap(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const size, tokens = 4, 12
		var cs *readCountingStore
		e := newEnv(t, s, withReadCounting(&cs), func(_ *env, cfg *provider.Config) {
			cfg.VerifiedTokenCacheSize = size
			cfg.VerifiedTokenCacheTTL = time.Minute
		})
		var access []string
		for range tokens {
			access = append(access, e.tokens(nil).AccessToken)
		}
		for _, a := range access {
			if _, err := e.p.VerifyAccessToken(e.ctx(), a); err != nil {
				t.Fatal(err)
			}
		}
		before := cs.reads.Load()
		for _, a := range access {
			if _, err := e.p.VerifyAccessToken(e.ctx(), a); err != nil {
				t.Fatal(err)
			}
		}
		if n := cs.reads.Load() - before; n < tokens-size {
			t.Errorf("verifying %d tokens again read storage %d times; a cache of %d holds at most %d of them", tokens, n, size, size)
		}
	})
}

// A token's expiry is checked on every cached answer: one expiring long before the TTL
// ends is refused on time.
func TestVerifiedTokenCache_ExpiryBeforeTTL(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const lifespan = 2 * time.Second
		var cs *readCountingStore
		e := newEnv(t, s, withReadCounting(&cs), func(_ *env, cfg *provider.Config) {
			cfg.VerifiedTokenCacheTTL = time.Hour
			cfg.AccessTokenLifespan = lifespan
		})
		access := e.tokens(nil).AccessToken
		wantCached(t, e, cs, access)
		// fosite rounds the expiry to the second.
		waitRefused(t, e.p, access, lifespan+time.Second, "a cached token past its expiry")
	})
}
