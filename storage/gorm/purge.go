package gormstore

import (
	"context"
	"fmt"
	"time"
)

// purgeBatch bounds how many rows one Purge statement deletes, so that a large backlog never
// holds a long write lock (SQLite) or produces one huge transaction (PostgreSQL).
const purgeBatch = 1000

// purgeTargets lists the tables Purge cleans, with their key column.
var purgeTargets = []struct{ table, key string }{
	{tableCodes, "signature"},
	{tablePKCE, "signature"},
	{tableAccess, "signature"},
	{tableRefresh, "signature"},
	{tablePending, "id_hash"},
	{tableJTIs, "jti_hash"},
}

// Purge deletes codes, PKCE sessions, access and refresh tokens, pending authorizations and JTIs
// that expired before before, in statements of at most 1000 rows each (each its own implicit
// transaction; Purge ignores any transaction in ctx), and returns how many rows it deleted.
// Rows without an expiry (refresh tokens with an infinite lifespan) are kept. Typically run
// periodically with time.Now() or a little earlier (keeping used codes a little past expiry
// keeps replay detection for codes presented late).
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	cutoff := dbTime(before)
	var total int64
	for _, t := range purgeTargets {
		stmt := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE expires_at < ? LIMIT %[3]d)",
			t.table, t.key, purgeBatch)
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			res := s.db.WithContext(ctx).Exec(stmt, cutoff)
			if res.Error != nil {
				return total, fmt.Errorf("gormstore: purge %s: %w", t.table, s.mapErr(res.Error))
			}
			total += res.RowsAffected
			if res.RowsAffected < purgeBatch {
				break
			}
		}
	}
	if total > 0 {
		s.log.InfoContext(ctx, "purged expired rows", "rows", total, "before", cutoff)
	}
	return total, nil
}
