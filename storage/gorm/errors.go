package gormstore

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// PostgreSQL SQLSTATE codes the store maps.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
	pgUniqueViolation      = "23505"
)

// mapErr turns driver errors into fosite's storage error contract:
//   - gorm.ErrRecordNotFound → fosite.ErrNotFound;
//   - PostgreSQL 40001/40P01/55P03, SQLite BUSY/LOCKED and unique violations →
//     fosite.ErrSerializationFailure (the driver error stays in the chain);
//   - anything else is wrapped with a "gormstore:" prefix.
func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fosite.ErrNotFound
	case isConflict(err):
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	default:
		return fmt.Errorf("gormstore: %w", err)
	}
}

// isConflict reports whether err is a serialization failure, deadlock, lock timeout or
// unique violation: the outcome of competing concurrent writes.
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
	if errors.As(err, &sqErr) {
		switch sqErr.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return true
		case sqlite3.ErrConstraint:
			return sqErr.ExtendedCode == sqlite3.ErrConstraintUnique ||
				sqErr.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
		}
	}
	return false
}
