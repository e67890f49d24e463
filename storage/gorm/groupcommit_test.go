package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ory/fosite"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// runCommitModes runs fn as gormtest.Run does (SQLite and PostgreSQL, a fresh store each),
// once with a transaction per rotation ("own-commit") and once with Options.GroupCommit
// ("group-commit", which PostgreSQL ignores): the guarantees of single use must hold in both.
func runCommitModes(t *testing.T, fn func(t *testing.T, s *gormstore.Store)) {
	t.Helper()
	for _, group := range []bool{false, true} {
		name := "own-commit"
		if group {
			name = "group-commit"
		}
		t.Run(name, func(t *testing.T) {
			gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
				opts := gormtest.DefaultOptions(t)
				opts.GroupCommit = group
				fn(t, db.Open(t, opts))
			})
		})
	}
}

// openGroupCommit returns a fresh store with Options.GroupCommit on db.
func openGroupCommit(t *testing.T, db gormtest.Database) *gormstore.Store {
	t.Helper()
	opts := gormtest.DefaultOptions(t)
	opts.GroupCommit = true
	return db.Open(t, opts)
}

// TestGroupCommit_ConcurrentGrantsAllRotate pins that rotations of different grants that
// share a group all commit (OAuth 2.1 §4.3.1: each gets its new refresh token), each old
// token inactive and each new one usable, and that a store opened afterwards on the same
// file sees them (Commit returned after the group's COMMIT).
func TestGroupCommit_ConcurrentGrantsAllRotate(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		opts.GroupCommit = true
		s := db.Open(t, opts)
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		origs := make([]fosite.Requester, racers)
		for i := range racers {
			req := newRequest(cl, fmt.Sprintf("grant-%d", i), "m")
			must(t, s.CreateRefreshTokenSession(c, fmt.Sprintf("rt-%d-0", i), "", req))
			origs[i] = req
		}
		errs := race(func(i int) error {
			return rotateAsFosite(s, c, origs[i], fmt.Sprintf("rt-%d-0", i), fmt.Sprintf("at-%d-1", i), fmt.Sprintf("rt-%d-1", i))
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("rotation of grant %d: %v; want success", i, err)
			}
		}
		opts.GroupCommit = false
		again := db.Open(t, opts)
		for i := range racers {
			if _, err := again.GetRefreshTokenSession(c, fmt.Sprintf("rt-%d-0", i), nil); !errors.Is(err, fosite.ErrInactiveToken) {
				t.Errorf("grant %d: old token: %v; want ErrInactiveToken", i, err)
			}
			if _, err := again.GetRefreshTokenSession(c, fmt.Sprintf("rt-%d-1", i), nil); err != nil {
				t.Errorf("grant %d: new token: %v", i, err)
			}
			if _, err := again.GetAccessTokenSession(c, fmt.Sprintf("at-%d-1", i), nil); err != nil {
				t.Errorf("grant %d: new access token: %v", i, err)
			}
		}
	})
}

// TestGroupCommit_FailedRotationRollsBackAlone pins the savepoint of each rotation in a
// group: a rotation whose insert fails (its client deleted meanwhile: a foreign key
// violation) leaves its refresh token active and nothing of its own stored, while the
// rotations committed with it stay committed.
func TestGroupCommit_FailedRotationRollsBackAlone(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		s := openGroupCommit(t, db)
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		gone := newClient(t, "gone") // never stored: every insert for it violates the foreign key
		orig := newRequest(cl, "grant", "m")
		must(t, s.CreateRefreshTokenSession(c, "rt-0", "", orig))
		doomed := newRequest(cl, "doomed", "m")
		must(t, s.CreateRefreshTokenSession(c, "rt-doomed", "", doomed))
		doomedNew := newRequest(gone, "doomed", "m")

		var wg sync.WaitGroup
		var errGood, errDoomed error
		wg.Go(func() { errGood = rotateAsFosite(s, c, orig, "rt-0", "at-1", "rt-1") })
		wg.Go(func() {
			errDoomed = inTX(s, c, func(tx context.Context) error {
				if err := s.RotateRefreshToken(tx, "doomed", "rt-doomed"); err != nil {
					return err
				}
				if err := s.CreateAccessTokenSession(tx, "at-doomed", doomed); err != nil {
					return err
				}
				return s.CreateRefreshTokenSession(tx, "rt-doomed-1", "at-doomed", doomedNew)
			})
		})
		wg.Wait()
		if errGood != nil {
			t.Fatalf("rotation: %v; want success", errGood)
		}
		if errDoomed == nil {
			t.Fatal("rotation storing a token of an unknown client succeeded; want an error")
		}
		if _, err := s.GetRefreshTokenSession(c, "rt-doomed", nil); err != nil {
			t.Errorf("the failed rotation's token: %v; want it still active (rolled back)", err)
		}
		if n := countRows(t, s, "oauth_access_tokens", "request_id = ?", "doomed"); n != 0 {
			t.Errorf("%d access tokens of the failed rotation stored; want 0", n)
		}
		if _, err := s.GetRefreshTokenSession(c, "rt-1", nil); err != nil {
			t.Errorf("the other rotation's new token: %v", err)
		}
	})
}

// TestGroupCommit_RevocationRacingDeferredRotation pins RFC 7009 §2.1 against a rotation
// whose writes wait for its Commit: a revocation of the grant that completes first makes
// the rotation fail at Commit (its token is no longer active), and no token of the grant
// works afterwards. SQLite only: on PostgreSQL, which ignores GroupCommit, the rotation
// holds its row locks and the revocation waits for it (revoke_race_test.go).
func TestGroupCommit_RevocationRacingDeferredRotation(t *testing.T) {
	t.Run(gormtest.SQLite, func(t *testing.T) {
		s := openGroupCommit(t, gormtest.NewDatabase(t, gormtest.SQLite))
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		must(t, s.CreateAccessTokenSession(c, "at-0", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-0", "at-0", req))

		tx, err := s.BeginTX(c)
		must(t, err)
		defer func() { _ = s.Rollback(tx) }()
		must(t, s.RotateRefreshToken(tx, "grant", "rt-0"))
		must(t, s.CreateAccessTokenSession(tx, "at-1", req))
		must(t, s.CreateRefreshTokenSession(tx, "rt-1", "at-1", req))

		must(t, s.RevokeRefreshToken(c, "grant"))

		if err := s.Commit(tx); !errors.Is(err, fosite.ErrSerializationFailure) {
			t.Fatalf("commit of the rotation after the revocation: %v; want ErrSerializationFailure", err)
		}
		if n := countRows(t, s, "oauth_refresh_tokens", "request_id = ? AND active = ?", "grant", true); n != 0 {
			t.Errorf("%d active refresh tokens of the revoked grant; want 0", n)
		}
		if n := countRows(t, s, "oauth_access_tokens", "request_id = ?", "grant"); n != 0 {
			t.Errorf("%d access tokens of the revoked grant; want 0", n)
		}
	})
}

// TestGroupCommit_ReadInTransactionSeesDeferredRotation pins that a transaction that
// deferred its rotation behaves as one that did not when it reads: the read begins the
// database transaction and runs the deferred writes first, so it sees the rotated token
// inactive (fosite.ErrInactiveToken) and the new one stored; a rollback undoes both.
func TestGroupCommit_ReadInTransactionSeesDeferredRotation(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		s := openGroupCommit(t, db)
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		must(t, s.CreateRefreshTokenSession(c, "rt-0", "", req))

		tx, err := s.BeginTX(c)
		must(t, err)
		must(t, s.RotateRefreshToken(tx, "grant", "rt-0"))
		must(t, s.CreateRefreshTokenSession(tx, "rt-1", "", req))
		if _, err := s.GetRefreshTokenSession(tx, "rt-0", nil); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("rotated token read in the transaction: %v; want ErrInactiveToken", err)
		}
		if _, err := s.GetRefreshTokenSession(tx, "rt-1", nil); err != nil {
			t.Errorf("new token read in the transaction: %v", err)
		}
		must(t, s.Rollback(tx))
		if _, err := s.GetRefreshTokenSession(c, "rt-0", nil); err != nil {
			t.Errorf("token after rollback: %v; want it active", err)
		}
		if _, err := s.GetRefreshTokenSession(c, "rt-1", nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("new token after rollback: %v; want ErrNotFound", err)
		}
	})
}
