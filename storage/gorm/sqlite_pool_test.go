package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// OpenSQLite writes through one connection (writers queue in the pool, not in SQLite's
// busy handler) and reads outside transactions through query-only connections beside it:
// a read does not wait for a transaction that holds the write lock.
func TestOpenSQLite_OneWriterBesideQueryOnlyReaders(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	c := ctx(t)
	sqlDB, err := s.DB().DB()
	must(t, err)
	if n := sqlDB.Stats().MaxOpenConnections; n != 1 {
		t.Fatalf("writer pool allows %d connections; want 1", n)
	}
	cl := mustCreateClient(t, s, "rw")
	must(t, s.CreateAccessTokenSession(c, "at-rw", newRequest(cl, "req-rw", "m")))

	tx, err := s.BeginTX(c) // holds the writer connection and SQLite's write lock
	must(t, err)
	defer s.Rollback(tx)
	must(t, s.CreateAccessTokenSession(tx, "at-rw-2", newRequest(cl, "req-rw-2", "m")))

	done := make(chan error, 1)
	go func() {
		rc, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.GetAccessTokenSession(rc, "at-rw", &fosite.DefaultSession{})
		if err == nil {
			// The transaction's uncommitted row is not visible outside it.
			if _, err2 := s.GetAccessTokenSession(rc, "at-rw-2", &fosite.DefaultSession{}); !errors.Is(err2, fosite.ErrNotFound) {
				err = fmt.Errorf("uncommitted row read outside its transaction: %v", err2)
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(3 * time.Second):
		t.Fatal("a read outside the transaction waited for the writer")
	}
	must(t, s.Commit(tx))
	if _, err := s.GetAccessTokenSession(c, "at-rw-2", &fosite.DefaultSession{}); err != nil {
		t.Fatalf("committed row not visible to the readers: %v", err)
	}
}

// Concurrent writers on one SQLite file all succeed: they wait their turn for the writer
// connection rather than failing with SQLITE_BUSY.
func TestOpenSQLite_ConcurrentWritersQueue(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	cl := mustCreateClient(t, s, "queue")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				c := context.Background()
				req := newRequest(cl, fmt.Sprintf("req-q-%d-%d", w, i), "m")
				err := inTX(s, c, func(tx context.Context) error {
					if err := s.CreateAccessTokenSession(tx, fmt.Sprintf("at-q-%d-%d", w, i), req); err != nil {
						return err
					}
					return s.CreateRefreshTokenSession(tx, fmt.Sprintf("rt-q-%d-%d", w, i), fmt.Sprintf("at-q-%d-%d", w, i), req)
				})
				if err != nil {
					errs <- err
					return
				}
				if _, err := s.GetRefreshTokenSession(c, fmt.Sprintf("rt-q-%d-%d", w, i), &fosite.DefaultSession{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent writer: %v", err)
	}
}

// Durability: every committed grant survives closing the database and opening it again
// (a process restart), with the writer/reader split and synchronous=NORMAL.
func TestOpenSQLite_CommittedGrantsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "restart.db")
	opts := gormtest.DefaultOptions(t)
	s, err := gormstore.OpenSQLite(path, opts)
	must(t, err)
	c := ctx(t)
	must(t, s.Migrate(c))
	cl := mustCreateClient(t, s, "durable")
	req := newRequest(cl, "req-durable", "m")
	must(t, inTX(s, c, func(tx context.Context) error {
		if err := s.CreateAccessTokenSession(tx, "at-durable", req); err != nil {
			return err
		}
		return s.CreateRefreshTokenSession(tx, "rt-durable", "at-durable", req)
	}))
	must(t, s.RotateRefreshToken(c, "req-durable", "rt-durable"))
	must(t, s.Close())

	s2, err := gormstore.OpenSQLite(path, opts)
	must(t, err)
	defer s2.Close()
	if _, err := s2.GetRefreshTokenSession(c, "rt-durable", &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("rotated refresh token after restart: %v; want ErrInactiveToken (rotation kept)", err)
	}
	if _, err := s2.GetAccessTokenSession(c, "at-durable", &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("access token of the rotated grant after restart: %v; want ErrNotFound", err)
	}
	if _, err := s2.LoadClient(c, "durable"); err != nil {
		t.Fatalf("client after restart: %v", err)
	}
}
