package gormstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ory/fosite"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestTransactional pins storage.Transactional as fosite's handlers use it.
func TestTransactional(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		visible := func(sig string) bool {
			_, err := s.GetAccessTokenSession(c, sig, nil)
			if err != nil && !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("Get %s: %v", sig, err)
			}
			return err == nil
		}

		t.Run("commit publishes, and methods use the transaction in the context", func(t *testing.T) {
			tx, err := s.BeginTX(c)
			must(t, err)
			must(t, s.CreateAccessTokenSession(tx, "committed", req))
			if _, err := s.GetAccessTokenSession(tx, "committed", nil); err != nil {
				t.Errorf("own write not visible inside the transaction: %v", err)
			}
			if visible("committed") {
				t.Errorf("uncommitted write visible outside the transaction")
			}
			must(t, s.Commit(tx))
			if !visible("committed") {
				t.Errorf("committed write not visible")
			}
			if err := s.Rollback(tx); err != nil {
				t.Errorf("Rollback after Commit (fosite's deferred rollback) = %v; want nil", err)
			}
			// A context whose transaction has finished falls back to the pool.
			if _, err := s.GetAccessTokenSession(tx, "committed", nil); err != nil {
				t.Errorf("Get with a finished transaction's context: %v", err)
			}
		})
		t.Run("rollback discards", func(t *testing.T) {
			tx, err := s.BeginTX(c)
			must(t, err)
			must(t, s.CreateAccessTokenSession(tx, "rolled-back", req))
			must(t, s.Rollback(tx))
			if visible("rolled-back") {
				t.Errorf("rolled-back write visible")
			}
		})
		t.Run("nested BeginTX joins; only the owner commits", func(t *testing.T) {
			outer, err := s.BeginTX(c)
			must(t, err)
			inner, err := s.BeginTX(outer)
			must(t, err)
			must(t, s.CreateAccessTokenSession(inner, "nested", req))
			must(t, s.Commit(inner))
			if visible("nested") {
				t.Errorf("inner Commit published the outer transaction")
			}
			must(t, s.Commit(outer))
			if !visible("nested") {
				t.Errorf("outer Commit did not publish")
			}
		})
		t.Run("nested Rollback makes the outer Commit fail and discard", func(t *testing.T) {
			outer, err := s.BeginTX(c)
			must(t, err)
			must(t, s.CreateAccessTokenSession(outer, "doomed", req))
			inner, err := s.BeginTX(outer)
			must(t, err)
			must(t, s.Rollback(inner))
			if err := s.Commit(outer); err == nil {
				t.Errorf("outer Commit after nested Rollback succeeded")
			}
			if visible("doomed") {
				t.Errorf("rollback-only transaction was committed")
			}
		})
		t.Run("Commit and Rollback without a transaction are errors", func(t *testing.T) {
			if err := s.Commit(c); err == nil {
				t.Errorf("Commit without transaction = nil")
			}
			if err := s.Rollback(c); err == nil {
				t.Errorf("Rollback without transaction = nil")
			}
		})
		t.Run("multi-statement methods join the context's transaction", func(t *testing.T) {
			must(t, s.CreateRefreshTokenSession(c, "rt-join", "", req))
			tx, err := s.BeginTX(c)
			must(t, err)
			must(t, s.RotateRefreshToken(tx, "grant", "rt-join"))
			must(t, s.Rollback(tx))
			if _, err := s.GetRefreshTokenSession(c, "rt-join", nil); err != nil {
				t.Errorf("rotation survived the rollback of its transaction: %v", err)
			}
		})
	})
}

// TestErrorMapping_SQLiteBusyIsStorageUnavailable pins that a writer locked out by another
// transaction past its busy timeout gets provider.ErrStorageUnavailable (the endpoints
// answer 503 and the client retries), not an opaque error, and not
// fosite.ErrSerializationFailure, which would be a lost race for a code or token.
func TestErrorMapping_SQLiteBusyIsStorageUnavailable(t *testing.T) {
	db := gormtest.NewDatabase(t, gormtest.SQLite)
	opts := gormtest.DefaultOptions(t)
	holder := db.Open(t, opts)
	cl := mustCreateClient(t, holder, "client")

	// A second store on the same file with a 50 ms busy timeout.
	dsn := strings.Replace(gormstore.SQLiteDSN(db.Path), "_busy_timeout=10000", "_busy_timeout=50", 1)
	if !strings.Contains(dsn, "_busy_timeout=50") {
		t.Fatalf("DSN %q has no 10 s busy timeout to shorten", dsn)
	}
	gdb, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	must(t, err)
	sqlDB, _ := gdb.DB()
	t.Cleanup(func() { sqlDB.Close() })
	impatient, err := gormstore.New(gdb, opts)
	must(t, err)

	tx, err := holder.BeginTX(ctx(t)) // BEGIN IMMEDIATE: holds the write lock
	must(t, err)
	defer holder.Rollback(tx)

	err = impatient.CreateAccessTokenSession(ctx(t), "sig", newRequest(cl, "r", "m"))
	if !errors.Is(err, provider.ErrStorageUnavailable) || errors.Is(err, fosite.ErrSerializationFailure) {
		t.Errorf("write while locked = %v; want ErrStorageUnavailable only", err)
	}
	if _, err := impatient.BeginTX(ctx(t)); !errors.Is(err, provider.ErrStorageUnavailable) {
		t.Errorf("BeginTX while locked = %v; want ErrStorageUnavailable", err)
	}
}

// TestErrorMapping_PostgresConcurrentUpdateIsSerializationFailure pins the REPEATABLE READ
// behaviour: a transaction that updates a row changed since its snapshot gets
// fosite.ErrSerializationFailure (SQLSTATE 40001).
func TestErrorMapping_PostgresConcurrentUpdateIsSerializationFailure(t *testing.T) {
	s := gormtest.Open(t, gormtest.Postgres)
	c := ctx(t)
	cl := mustCreateClient(t, s, "client")
	req := newRequest(cl, "grant", "m")
	must(t, s.CreateRefreshTokenSession(c, "rt", "", req))
	must(t, s.CreateAuthorizeCodeSession(c, "code", req))

	// Two transactions take their snapshots...
	lateRotate, err := s.BeginTX(c)
	must(t, err)
	defer s.Rollback(lateRotate)
	lateInvalidate, err := s.BeginTX(c)
	must(t, err)
	defer s.Rollback(lateInvalidate)
	for _, tx := range []context.Context{lateRotate, lateInvalidate} {
		// A statement takes the snapshot (not GetClient: the client cache answers it).
		if _, err := s.GetAuthorizeCodeSession(tx, "code", &fosite.DefaultSession{}); err != nil {
			t.Fatal(err)
		}
	}
	// ...then another transaction rotates and invalidates, and commits.
	early, err := s.BeginTX(c)
	must(t, err)
	must(t, s.RotateRefreshToken(early, "grant", "rt"))
	must(t, s.InvalidateAuthorizeCodeSession(early, "code"))
	must(t, s.Commit(early))

	if err := s.RotateRefreshToken(lateRotate, "grant", "rt"); !errors.Is(err, fosite.ErrSerializationFailure) {
		t.Errorf("stale rotation = %v; want ErrSerializationFailure", err)
	}
	err = s.InvalidateAuthorizeCodeSession(lateInvalidate, "code")
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || !errors.Is(err, fosite.ErrSerializationFailure) {
		t.Errorf("stale invalidation = %v; want ErrInvalidatedAuthorizeCode and ErrSerializationFailure", err)
	}
}

// TestErrorMapping_PostgresDeadlockIsSerializationFailure pins SQLSTATE 40P01: two transactions
// that rotate each other's refresh tokens deadlock; PostgreSQL aborts one (after deadlock_timeout,
// 1 s by default), which must see fosite.ErrSerializationFailure, and the other proceeds.
func TestErrorMapping_PostgresDeadlockIsSerializationFailure(t *testing.T) {
	s := gormtest.Open(t, gormtest.Postgres)
	c := ctx(t)
	cl := mustCreateClient(t, s, "client")
	must(t, s.CreateRefreshTokenSession(c, "rt-a", "", newRequest(cl, "grant-a", "m")))
	must(t, s.CreateRefreshTokenSession(c, "rt-b", "", newRequest(cl, "grant-b", "m")))
	must(t, s.CreateRefreshTokenSession(c, "rt-a2", "", newRequest(cl, "grant-a", "m")))
	must(t, s.CreateRefreshTokenSession(c, "rt-b2", "", newRequest(cl, "grant-b", "m")))

	tx1, err := s.BeginTX(c)
	must(t, err)
	defer s.Rollback(tx1)
	tx2, err := s.BeginTX(c)
	must(t, err)
	defer s.Rollback(tx2)
	must(t, s.RotateRefreshToken(tx1, "grant-a", "rt-a")) // tx1 locks grant-a's rows
	must(t, s.RotateRefreshToken(tx2, "grant-b", "rt-b")) // tx2 locks grant-b's rows

	errs := make(chan error, 2)
	go func() { errs <- s.RotateRefreshToken(tx1, "grant-b", "rt-b2") }()
	go func() { errs <- s.RotateRefreshToken(tx2, "grant-a", "rt-a2") }()
	e1, e2 := <-errs, <-errs
	failed := 0
	for _, err := range []error{e1, e2} {
		if err != nil {
			failed++
			if !errors.Is(err, fosite.ErrSerializationFailure) {
				t.Errorf("deadlock victim got %v; want ErrSerializationFailure", err)
			}
		}
	}
	if failed == 0 {
		t.Errorf("no deadlock victim (both rotations succeeded)")
	}
}
