package gormstore_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ory/fosite"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestErrorMapping_UnreachablePostgresIsStorageUnavailable: with nothing listening at the
// DSN's address, a client lookup is provider.ErrStorageUnavailable — not fosite.ErrNotFound,
// which fosite would turn into invalid_client — and Ping fails the same way.
func TestErrorMapping_UnreachablePostgresIsStorageUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nobody listens there now
	// OpenPostgres would refuse to start without a database: open the pool lazily.
	db, err := gorm.Open(postgres.Open("host=127.0.0.1 user=postgres dbname=postgres sslmode=disable connect_timeout=2 port="+
		strconv.Itoa(port)), &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	must(t, err)
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	s, err := gormstore.New(db, gormtest.DefaultOptions(t))
	must(t, err)

	_, err = s.GetClient(ctx(t), "client")
	if !errors.Is(err, provider.ErrStorageUnavailable) || errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("GetClient = %v; want ErrStorageUnavailable", err)
	}
	if err := s.Ping(ctx(t)); !errors.Is(err, provider.ErrStorageUnavailable) {
		t.Errorf("Ping = %v; want ErrStorageUnavailable", err)
	}
}

// TestErrorMapping_DeadlineIsStorageUnavailable: a storage call whose context deadline has
// passed is provider.ErrStorageUnavailable on both databases, and Ping answers nil on a
// healthy database.
func TestErrorMapping_DeadlineIsStorageUnavailable(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		mustCreateClient(t, s, "client")
		if err := s.Ping(ctx(t)); err != nil {
			t.Fatalf("Ping on a healthy database = %v", err)
		}
		expired, cancel := context.WithTimeout(ctx(t), 0)
		defer cancel()
		<-expired.Done()
		// Not "client": CreateClient cached it, and a cached client needs no database.
		if _, err := s.GetClient(expired, "not-cached"); !errors.Is(err, provider.ErrStorageUnavailable) || errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("GetClient after the deadline = %v; want ErrStorageUnavailable", err)
		}
		if err := s.Ping(expired); !errors.Is(err, provider.ErrStorageUnavailable) {
			t.Errorf("Ping after the deadline = %v; want ErrStorageUnavailable", err)
		}
	})
}

// TestErrorMapping_SQLiteReadOnlyIsStorageUnavailable: writes to a database opened
// read-only are provider.ErrStorageUnavailable; reads work.
func TestErrorMapping_SQLiteReadOnlyIsStorageUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	rw := gormtest.Database{Backend: gormtest.SQLite, Path: path}.Open(t, gormtest.DefaultOptions(t))
	mustCreateClient(t, rw, "client")

	db, err := gorm.Open(sqlite.Open(gormstore.SQLiteDSN(path)+"&mode=ro"), &gorm.Config{Logger: logger.Discard})
	must(t, err)
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	ro, err := gormstore.New(db, gormtest.DefaultOptions(t))
	must(t, err)
	if _, err := ro.GetClient(ctx(t), "client"); err != nil {
		t.Errorf("read from the read-only database = %v", err)
	}
	if err := ro.CreateClient(ctx(t), newClient(t, "other")); !errors.Is(err, provider.ErrStorageUnavailable) {
		t.Errorf("write to the read-only database = %v; want ErrStorageUnavailable", err)
	}
}
