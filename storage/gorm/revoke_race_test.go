package gormstore_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// withAppName returns the PostgreSQL dsn (URL or key=value form) with application_name set.
func withAppName(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(dsn) + " application_name=" + name
}

// revokeRace is a grant mid-rotation on one store, and a second store (its own connection pool,
// as another server process) that revokes the grant while the rotation holds its locks.
type revokeRace struct {
	db      gormtest.Database
	store   *gormstore.Store // rotates
	revoker *gormstore.Store // revokes
	appName string           // the revoker's PostgreSQL application_name
	req     *fosite.Request
}

func newRevokeRace(t *testing.T, db gormtest.Database) *revokeRace {
	t.Helper()
	opts := gormtest.DefaultOptions(t)
	r := &revokeRace{db: db, store: db.Open(t, opts), appName: randomString(t, "revoker_")}
	var err error
	switch db.Backend {
	case gormtest.Postgres:
		r.revoker, err = gormstore.OpenPostgres(ctx(t), withAppName(db.DSN, r.appName), opts)
	default:
		r.revoker, err = gormstore.OpenSQLite(db.Path, opts)
	}
	must(t, err)
	t.Cleanup(func() { _ = r.revoker.Close() })
	cl := mustCreateClient(t, r.store, "client")
	r.req = newRequest(cl, "grant", "m")
	return r
}

// waitUntilRevokerBlocked returns once the revoker waits for a lock the rotation holds
// (PostgreSQL), or after a pause long enough for it to be waiting for the write lock (SQLite,
// which has no way to observe it). It fails t if done closes first: the revocation did not wait.
func (r *revokeRace) waitUntilRevokerBlocked(t *testing.T, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("the revocation finished (%v) while the rotation held its locks", err)
		case <-time.After(20 * time.Millisecond):
		}
		if r.db.Backend != gormtest.Postgres {
			time.Sleep(200 * time.Millisecond)
			return
		}
		var n int64
		must(t, r.store.DB().Raw(`SELECT count(*) FROM pg_stat_activity WHERE application_name = ? AND wait_event_type = 'Lock'`, r.appName).Scan(&n).Error)
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation never waited for the rotation's locks")
		}
	}
}

// waitRevoked fails t unless the revocation reports success on done (within a bound that only
// catches a hang).
func waitRevoked(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("revocation: %v; want success", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("revocation did not return")
	}
}

// assertGrantDead fails t unless every refresh token of the grant is inactive and every
// access token of it gone, and the named new tokens in particular.
func (r *revokeRace) assertGrantDead(t *testing.T, c context.Context, newRT, newAT string) {
	t.Helper()
	if _, err := r.store.GetRefreshTokenSession(c, newRT, nil); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("refresh token minted by the concurrent rotation: %v; want ErrInactiveToken (the grant was revoked)", err)
	}
	if _, err := r.store.GetAccessTokenSession(c, newAT, nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("access token minted by the concurrent rotation: %v; want ErrNotFound (the grant was revoked)", err)
	}
	if n := countRows(t, r.store, "oauth_refresh_tokens", "request_id = ? AND (active = ? OR first_used_at IS NOT NULL)", "grant", true); n != 0 {
		t.Errorf("%d refresh tokens of the revoked grant still active or within a grace window; want 0", n)
	}
	if n := countRows(t, r.store, "oauth_access_tokens", "request_id = ?", "grant"); n != 0 {
		t.Errorf("%d access tokens of the revoked grant left; want 0", n)
	}
	grace := provider.RefreshTokenGrace{Period: time.Hour, MaxReuses: 5}
	for _, sig := range []string{"rt-0", "rt-1", newRT} {
		if _, err := r.store.GetRefreshTokenSessionWithGrace(c, sig, nil, grace); !errors.Is(err, fosite.ErrInactiveToken) && !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s under a grace window after revocation: %v; want inactive", sig, err)
		}
	}
}

// TestRevocationRacingRefresh_NoTokenOfTheGrantSurvives pins RFC 7009 §2.1/§2.2 (and RFC 6819
// §5.2.2.3 for reuse detection) against a concurrent refresh: once revoking a grant has
// returned success, no refresh or access token of the grant works, including the ones a
// rotation that was in flight during the revocation minted. On PostgreSQL the rotation's
// transaction holds the old token's row lock while the revocation waits, and inserts the new
// tokens after the revocation's snapshot was taken; on SQLite the rotation holds the write
// lock and the revocation must wait for it and then see the new tokens.
func TestRevocationRacingRefresh_NoTokenOfTheGrantSurvives(t *testing.T) {
	type rotation struct {
		name   string
		rotate func(s *gormstore.Store, tx context.Context) error
		newRT  string
	}
	grace := provider.RefreshTokenGrace{Period: time.Hour, MaxReuses: 5}
	rotations := []rotation{
		{"strict rotation of the current token", func(s *gormstore.Store, tx context.Context) error {
			return s.RotateRefreshToken(tx, "grant", "rt-1")
		}, "rt-2"},
		{"grace rotation of the current token", func(s *gormstore.Store, tx context.Context) error {
			return s.RotateRefreshTokenWithGrace(tx, "grant", "rt-1", grace)
		}, "rt-2"},
		{"grace reuse of a rotated token (a second chain)", func(s *gormstore.Store, tx context.Context) error {
			return s.RotateRefreshTokenWithGrace(tx, "grant", "rt-0", grace)
		}, "rt-0b"},
	}
	type revocation struct {
		name       string
		revoke     func(s *gormstore.Store, c context.Context) error
		accessOnly bool // only the access tokens are revoked
	}
	revocations := []revocation{
		{"revocation endpoint (no transaction, refresh then access)", func(s *gormstore.Store, c context.Context) error {
			if err := s.RevokeRefreshToken(c, "grant"); err != nil {
				return err
			}
			return s.RevokeAccessToken(c, "grant")
		}, false},
		{"code reuse (no transaction, access then refresh)", func(s *gormstore.Store, c context.Context) error {
			if err := s.RevokeAccessToken(c, "grant"); err != nil {
				return err
			}
			return s.RevokeRefreshToken(c, "grant")
		}, false},
		{"reuse detection (in a transaction)", func(s *gormstore.Store, c context.Context) error {
			return inTX(s, c, func(tx context.Context) error {
				if err := s.DeleteRefreshTokenSession(tx, "rt-unknown"); err != nil {
					return err
				}
				if err := s.RevokeRefreshToken(tx, "grant"); err != nil {
					return err
				}
				return s.RevokeAccessToken(tx, "grant")
			})
		}, false},
		{"access tokens only (no transaction)", func(s *gormstore.Store, c context.Context) error {
			return s.RevokeAccessToken(c, "grant")
		}, true},
	}
	for _, rot := range rotations {
		for _, rev := range revocations {
			t.Run(rot.name+"/"+rev.name, func(t *testing.T) {
				gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
					r := newRevokeRace(t, db)
					c := ctx(t)
					// rt-0 was rotated a moment ago (first use within the grace window); rt-1 is current.
					must(t, r.store.CreateAccessTokenSession(c, "at-0", r.req))
					must(t, r.store.CreateRefreshTokenSession(c, "rt-0", "at-0", r.req))
					must(t, inTX(r.store, c, func(tx context.Context) error {
						if err := r.store.RotateRefreshTokenWithGrace(tx, "grant", "rt-0", grace); err != nil {
							return err
						}
						if err := r.store.CreateAccessTokenSession(tx, "at-1", r.req); err != nil {
							return err
						}
						return r.store.CreateRefreshTokenSession(tx, "rt-1", "at-1", r.req)
					}))

					// The rotation, as fosite runs it: one transaction, held open.
					tx, err := r.store.BeginTX(c)
					must(t, err)
					defer func() { _ = r.store.Rollback(tx) }()
					must(t, rot.rotate(r.store, tx))

					done := make(chan error, 1)
					go func() { done <- rev.revoke(r.revoker, c) }()
					r.waitUntilRevokerBlocked(t, done)

					newAT := "at-" + strings.TrimPrefix(rot.newRT, "rt-")
					must(t, r.store.CreateAccessTokenSession(tx, newAT, r.req))
					must(t, r.store.CreateRefreshTokenSession(tx, rot.newRT, newAT, r.req))
					must(t, r.store.Commit(tx))

					waitRevoked(t, done)
					if rev.accessOnly {
						if n := countRows(t, r.store, "oauth_access_tokens", "request_id = ?", "grant"); n != 0 {
							t.Errorf("%d access tokens of the grant left, among them the one the concurrent rotation minted; want 0", n)
						}
						if _, err := r.store.GetRefreshTokenSession(c, rot.newRT, nil); err != nil {
							t.Errorf("refresh token after revoking only the access tokens: %v; want valid", err)
						}
						return
					}
					r.assertGrantDead(t, c, rot.newRT, newAT)
				})
			})
		}
	}
}

// TestRevocationRacingRefresh_WaitedRoundThatFindsNothing pins the revocation's stopping rule
// on its own, apart from the rotations this store ships: a transaction that removes the
// grant's only live refresh token and its access token and inserts a new refresh token (a
// rotation written as delete and insert, minting no access token) holds the old rows while
// the grant is revoked. On PostgreSQL (READ COMMITTED) the revocation's UPDATE waits for the
// old row, finds it gone and changes nothing, and its snapshot predates the new token: a
// revocation that stopped at the first round changing nothing would leave the new token
// live. The revocation must look again until no live token of the grant is left (RFC 7009
// §2.1). On SQLite the revocation waits for the writer and sees the new token at once.
func TestRevocationRacingRefresh_WaitedRoundThatFindsNothing(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		r := newRevokeRace(t, db)
		c := ctx(t)
		must(t, r.store.CreateAccessTokenSession(c, "at-1", r.req))
		must(t, r.store.CreateRefreshTokenSession(c, "rt-1", "at-1", r.req))

		tx, err := r.store.BeginTX(c)
		must(t, err)
		defer func() { _ = r.store.Rollback(tx) }()
		must(t, r.store.DeleteRefreshTokenSession(tx, "rt-1"))
		must(t, r.store.DeleteAccessTokenSession(tx, "at-1"))

		done := make(chan error, 1)
		go func() { done <- r.revoker.RevokeRefreshToken(c, "grant") }()
		r.waitUntilRevokerBlocked(t, done)
		must(t, r.store.CreateRefreshTokenSession(tx, "rt-2", "", r.req))
		must(t, r.store.Commit(tx))

		waitRevoked(t, done)
		if _, err := r.store.GetRefreshTokenSession(c, "rt-2", nil); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("refresh token inserted while the revocation waited: %v; want ErrInactiveToken (the grant was revoked)", err)
		}
	})
}
