// Package gormtest gives tests real, isolated gormstore.Stores on SQLite and PostgreSQL.
//
// SQLite databases are files in t.TempDir(). PostgreSQL databases are fresh schemas, created for
// each call in the database named by the FOSITE_MCP_POSTGRES_DSN environment variable
// (./test/with-postgres.sh and `make test` set it), selected through the DSN's search_path and
// dropped at cleanup. (A schema isolates as well as a database for this store, whose SQL never
// names a schema, and costs milliseconds where CREATE DATABASE costs a quarter of a second.) Without that variable the PostgreSQL half of a
// test is skipped with a loud message, unless REQUIRE_POSTGRES=1, in which case it fails.
//
//	func TestSomething(t *testing.T) {
//		gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
//			// s is a fresh, migrated store
//		})
//	}
package gormtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// Environment variables the helpers read.
const (
	// EnvPostgresDSN names the PostgreSQL server (any database on it; the helpers create their own).
	EnvPostgresDSN = "FOSITE_MCP_POSTGRES_DSN"
	// EnvRequirePostgres set to "1" turns a missing EnvPostgresDSN into a test failure.
	EnvRequirePostgres = "REQUIRE_POSTGRES"
)

// Backend names.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Run runs fn as the subtests "sqlite" and "postgres", each with a fresh, migrated, isolated Store
// (closed, and its database removed, at cleanup).
func Run(t *testing.T, fn func(t *testing.T, s *gormstore.Store)) {
	t.Helper()
	RunDB(t, func(t *testing.T, db Database) {
		fn(t, db.Open(t, DefaultOptions(t)))
	})
}

// RunDB runs fn as the subtests "sqlite" and "postgres", each with a fresh empty Database, for
// tests that open stores themselves (several stores on one database, other options, raw access).
func RunDB(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Helper()
	for _, backend := range []string{SQLite, Postgres} {
		t.Run(backend, func(t *testing.T) {
			fn(t, NewDatabase(t, backend))
		})
	}
}

// Open returns a fresh, migrated Store on backend (SQLite or Postgres), for benchmarks and
// custom tests. For Postgres without EnvPostgresDSN it skips tb (fails it with REQUIRE_POSTGRES=1).
func Open(tb testing.TB, backend string) *gormstore.Store {
	tb.Helper()
	return NewDatabase(tb, backend).Open(tb, DefaultOptions(tb))
}

// Backends returns the backends available to this run: SQLite always, Postgres when
// EnvPostgresDSN is set. Without it, Backends logs a loud notice, or fails tb with
// REQUIRE_POSTGRES=1. Use it to loop over backends in benchmarks.
func Backends(tb testing.TB) []string {
	tb.Helper()
	if os.Getenv(EnvPostgresDSN) == "" {
		if os.Getenv(EnvRequirePostgres) == "1" {
			tb.Fatalf("%s is not set but %s=1: PostgreSQL is required", EnvPostgresDSN, EnvRequirePostgres)
		}
		tb.Logf("NOTICE: %s not set: running on SQLite ONLY (use ./test/with-postgres.sh or make test)", EnvPostgresDSN)
		return []string{SQLite}
	}
	return []string{SQLite, Postgres}
}

// DefaultOptions returns store options with a fresh random encryption key (ID "test-key") and a
// logger that discards.
func DefaultOptions(tb testing.TB) gormstore.Options {
	return gormstore.Options{
		EncryptionKeys: []gormstore.Key{NewKey(tb, "test-key")},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// NewKey returns a random 32-byte encryption key named id.
func NewKey(tb testing.TB, id string) gormstore.Key {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		tb.Fatalf("gormtest: key: %v", err)
	}
	return gormstore.Key{ID: id, Secret: secret}
}

// Database is an empty, isolated database on one backend, removed at the test's cleanup.
type Database struct {
	// Backend is SQLite or Postgres.
	Backend string
	// Path is the SQLite database file (SQLite only).
	Path string
	// DSN is the PostgreSQL DSN of the database (Postgres only); it selects the database's
	// schema through search_path.
	DSN string
	// Schema is the PostgreSQL schema holding the database (Postgres only).
	Schema string
}

// NewDatabase creates an empty database on backend. For Postgres without EnvPostgresDSN it skips
// tb with a loud message (fails it with REQUIRE_POSTGRES=1).
func NewDatabase(tb testing.TB, backend string) Database {
	tb.Helper()
	switch backend {
	case SQLite:
		return Database{Backend: SQLite, Path: filepath.Join(tb.TempDir(), "fosite-mcp.db")}
	case Postgres:
		return newPostgresDatabase(tb)
	default:
		tb.Fatalf("gormtest: unknown backend %q", backend)
		return Database{}
	}
}

// Open opens a Store on the database with opts, migrates it and closes it at cleanup.
// Several Stores may be open on one Database.
func (d Database) Open(tb testing.TB, opts gormstore.Options) *gormstore.Store {
	tb.Helper()
	s, err := d.OpenUnmigrated(tb, opts)
	if err != nil {
		tb.Fatalf("gormtest: open %s: %v", d.Backend, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("gormtest: migrate %s: %v", d.Backend, err)
	}
	return s
}

// OpenUnmigrated opens a Store on the database with opts without migrating it, and closes it at
// cleanup. It returns the constructor's error (for tests of option validation).
func (d Database) OpenUnmigrated(tb testing.TB, opts gormstore.Options) (*gormstore.Store, error) {
	tb.Helper()
	var (
		s   *gormstore.Store
		err error
	)
	switch d.Backend {
	case SQLite:
		s, err = gormstore.OpenSQLite(d.Path, opts)
	case Postgres:
		s, err = gormstore.OpenPostgres(context.Background(), d.DSN, opts)
		if err == nil {
			if sqlDB, e := s.DB().DB(); e == nil {
				// Bound what one test may hold on a server shared by every package's tests.
				sqlDB.SetMaxOpenConns(30)
				sqlDB.SetMaxIdleConns(5)
			}
		}
	default:
		tb.Fatalf("gormtest: unknown backend %q", d.Backend)
	}
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, nil
}

// withSearchPath returns dsn with search_path set to schema (URL or key=value form).
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " search_path=" + schema, nil
}

func newPostgresDatabase(tb testing.TB) Database {
	tb.Helper()
	admin := os.Getenv(EnvPostgresDSN)
	if admin == "" {
		if os.Getenv(EnvRequirePostgres) == "1" {
			tb.Fatalf("%s is not set but %s=1: PostgreSQL is required", EnvPostgresDSN, EnvRequirePostgres)
		}
		tb.Skipf("\n*** SKIPPING PostgreSQL: %s is not set. Run through ./test/with-postgres.sh (make test) to test on PostgreSQL. ***", EnvPostgresDSN)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := "fmt_" + hex.EncodeToString(b[:])
	dsn, err := withSearchPath(admin, schema)
	if err != nil {
		tb.Fatalf("gormtest: %s: %v", EnvPostgresDSN, err)
	}
	if err := adminExec(admin, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("gormtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := adminExec(admin, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			tb.Errorf("gormtest: drop schema %s: %v", schema, err)
		}
	})
	return Database{Backend: Postgres, DSN: dsn, Schema: schema}
}

func adminExec(dsn, stmt string) error {
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sqlDB.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}
