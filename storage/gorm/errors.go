package gormstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// PostgreSQL SQLSTATE codes the store maps.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
	pgUniqueViolation      = "23505"
	pgConnectionClass      = "08"    // connection exception
	pgAdminShutdown        = "57P01" // the server is shutting down (fast or smart stop)
	pgCrashShutdown        = "57P02"
	pgCannotConnectNow     = "57P03" // starting up, shutting down, recovering
	pgTooManyConnections   = "53300"
	pgReadOnlyTransaction  = "25006" // a hot standby, or default_transaction_read_only
)

// mapErr turns driver errors into fosite's storage error contract:
//   - gorm.ErrRecordNotFound → fosite.ErrNotFound;
//   - an unreachable, shut-down, timed-out, locked or read-only database (see
//     isUnavailable) → provider.ErrStorageUnavailable, so that the endpoints answer 503
//     rather than a credential error (the driver error stays in the chain);
//   - PostgreSQL 40001/40P01/55P03 and unique violations → fosite.ErrSerializationFailure:
//     competing writes, of which one won;
//   - a foreign key violation → fosite.ErrNotFound: the row's client was deleted (on
//     another replica, within its client cache's TTL), so the grant cannot go on — the
//     token endpoint answers invalid_grant, not a 500;
//   - anything else is wrapped with a "gormstore:" prefix.
func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fosite.ErrNotFound
	case isUnavailable(err):
		return fmt.Errorf("gormstore: %w: %w", provider.ErrStorageUnavailable, err)
	case isConflict(err):
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	case isForeignKeyViolation(err):
		return fmt.Errorf("gormstore: %w: the client no longer exists: %w", fosite.ErrNotFound, err)
	default:
		return fmt.Errorf("gormstore: %w", err)
	}
}

// isConflict reports whether err is a serialization failure, deadlock, lock timeout or
// unique violation: the outcome of competing concurrent writes. (SQLite's BUSY is not:
// with BEGIN IMMEDIATE writers queue for the lock, and BUSY means the busy timeout ran
// out, which isUnavailable reports.)
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgSerializationFailure, pgDeadlockDetected, pgLockNotAvailable, pgUniqueViolation:
			return true
		}
		return false
	}
	var sqErr sqlite3.Error
	if errors.As(err, &sqErr) && sqErr.Code == sqlite3.ErrConstraint {
		return sqErr.ExtendedCode == sqlite3.ErrConstraintUnique ||
			sqErr.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}

// isUnavailable reports whether err says that the database cannot serve right now,
// rather than anything about the data: no connection (refused, reset, closed, DNS), a
// deadline or cancellation, PostgreSQL shutting down, starting up, out of connections or
// read-only, SQLite locked past its busy timeout, read-only, or failing I/O.
func isUnavailable(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, pgconn.ErrConnClosed):
		return true
	}
	if isClosedPool(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgAdminShutdown, pgCrashShutdown, pgCannotConnectNow, pgTooManyConnections, pgReadOnlyTransaction:
			return true
		}
		return strings.HasPrefix(pgErr.Code, pgConnectionClass)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var sqErr sqlite3.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrReadonly, sqlite3.ErrIoErr,
			sqlite3.ErrCantOpen, sqlite3.ErrFull, sqlite3.ErrPerm, sqlite3.ErrProtocol:
			return true
		}
	}
	return false
}

// closedPoolErrors are database/sql's messages for a pool or prepared statement used after
// Close (Store.Close, or its owner closing the *sql.DB under a running server). database/sql
// does not export these errors, so they are recognised by their text.
var closedPoolErrors = []string{"sql: database is closed", "sql: statement is closed"}

// isClosedPool reports whether err, or an error it wraps, is database/sql's refusal to use a
// closed pool or statement: the storage is gone, which says nothing about the request.
func isClosedPool(err error) bool {
	if err == nil {
		return false
	}
	if slices.Contains(closedPoolErrors, err.Error()) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return isClosedPool(u.Unwrap())
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(u.Unwrap(), isClosedPool)
	}
	return false
}
