package gormstore

import (
	"context"
	"fmt"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

var _ provider.Pinger = (*Store)(nil)

// Ping implements provider.Pinger for readiness probes: it pings the database and runs a
// trivial query on the migrations table (so a database without the schema is not ready
// either), within ctx's deadline. A failure wraps provider.ErrStorageUnavailable. It
// reads only: a SQLite database that is locked or read-only still passes (its writes
// then get 503s, which the probe cannot see without writing).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ping(ctx); err != nil {
		return fmt.Errorf("gormstore: ping: %w: %w", provider.ErrStorageUnavailable, err)
	}
	return nil
}

func (s *Store) ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return err
	}
	var n int64
	return s.db.WithContext(ctx).Raw("SELECT count(*) FROM " + tableMigrations).Scan(&n).Error
}
