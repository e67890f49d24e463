package gormstore

import (
	"context"
	"fmt"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
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
	{tableDevice, "device_code_hash"},
	{tableJTIs, "jti_hash"},
	{tableGrants, "id"}, // expires_at: when its tokens expired and its consent is forgotten
}

// Purge deletes codes, PKCE sessions, access and refresh tokens, pending authorizations, device
// authorizations (RFC 8628), JTIs and grants (their tokens expired and their consent is no
// longer remembered) that expired before before, and grant requests without tokens left, in statements of at most 1000
// rows each (each its own implicit transaction; Purge ignores any transaction in ctx), and
// returns how many rows it deleted.
// Rows without an expiry (refresh tokens with an infinite lifespan) are kept. Inactive
// refresh tokens (rotated, or revoked with their grant) are deleted at their own expiry,
// or sooner, whatever their expiry, once their grant has no active refresh token left:
// until then a rotated token's row stays, so that presenting it again is detected as reuse
// and revokes the grant (RFC 9700 §4.14.2), and serves the grace window
// (provider.RefreshTokenGrace); afterwards its replay finds nothing to revoke and is
// refused as unknown (invalid_grant). The own-expiry bound keeps a grant refreshed without
// end from keeping every token it ever rotated. Typically run
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
	// Inactive refresh tokens (rotated, or revoked with their grant) of grants without an
	// active one left: reuse detection needs a rotated token's row only while its grant
	// still has a live token to revoke (RFC 9700 §4.14.2).
	// "active = FALSE" is a literal, not a parameter: SQLite uses a partial index only for
	// a query whose WHERE contains the index's condition as written (migration 9).
	stmt := fmt.Sprintf("DELETE FROM %[1]s WHERE signature IN (SELECT r.signature FROM %[1]s r WHERE r.active = FALSE AND NOT EXISTS "+
		"(SELECT 1 FROM %[1]s a WHERE a.request_id = r.request_id AND a.active = ?) LIMIT %[2]d)", tableRefresh, purgeBatch)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res := s.db.WithContext(ctx).Exec(stmt, true)
		if res.Error != nil {
			return total, fmt.Errorf("gormstore: purge inactive %s: %w", tableRefresh, s.mapErr(res.Error))
		}
		total += res.RowsAffected
		if res.RowsAffected < purgeBatch {
			break
		}
	}
	for {
		n, err := s.purgeGrantRequests(ctx, cutoff)
		total += n
		if err != nil {
			return total, fmt.Errorf("gormstore: purge %s: %w", tableGrantRequests, err)
		}
		if n < purgeBatch {
			break
		}
	}
	if total > 0 {
		s.log.InfoContext(ctx, "purged expired rows", "rows", total, "before", cutoff)
	}
	return total, nil
}

// inactiveRefreshMigration (version 9) indexes the inactive refresh tokens by grant for
// Purge, which looks for the inactive rows of grants without an active one. Without it the
// search read the whole refresh token table on SQLite (rows carry the session data, so a
// table scan reads far more pages than an index) and the whole (request_id, active) index
// on PostgreSQL. The index is partial (only inactive rows) and covering (signature), so the
// search reads index pages only; it costs one index entry per rotation (the row it turns
// inactive).
var inactiveRefreshMigration = migration{
	version: 9,
	name:    "inactive refresh tokens indexed by grant",
	stmts: []string{
		`CREATE INDEX ` + tableRefresh + `_inactive_idx ON ` + tableRefresh + ` (request_id, signature) WHERE active = FALSE`,
	},
}

// ListUnusedMetadataDocumentClients returns up to limit IDs of clients stored from client ID
// metadata documents (provider.ClientSourceMetadataDocument) whose LastUsedAt, or CreatedAt
// when never used, is before cutoff and that hold nothing live: no active unexpired refresh
// token, access token or authorization code, no unconsumed unexpired pending
// authorization and no undecided or unredeemed unexpired device authorization. Oldest
// first. It implements registration.UnusedMetadataDocumentClientLister, which
// registration.PruneUnusedMetadataDocumentClients uses: such rows are only a copy of a
// document the server fetches again when the client comes back, but anyone can make the
// server add one (ListUnusedClients does the same for dynamic registrations).
func (s *Store) ListUnusedMetadataDocumentClients(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	return s.listUnusedClients(ctx, provider.ClientSourceMetadataDocument, cutoff, limit)
}

// listUnusedClients returns up to limit IDs of source's clients whose LastUsedAt, or
// CreatedAt when never used, is before cutoff and that hold nothing live (see
// ListUnusedMetadataDocumentClients), oldest first.
func (s *Store) listUnusedClients(ctx context.Context, source provider.ClientSource, cutoff time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	cond, args := s.unusedClient(source, cutoff)
	var ids []string
	err := s.conn(ctx).Table(tableClients).Where(cond, args...).
		Order("COALESCE(last_used_at, created_at)").Limit(limit).Pluck("id", &ids).Error
	return ids, s.mapErr(err)
}

// unusedClient is the condition on an oauth_clients row of an unused client of source:
// last used (or created) before cutoff, and holding nothing live — no active unexpired
// refresh token, access token or code, no unconsumed unexpired pending authorization, no
// undecided or unredeemed unexpired device authorization.
func (s *Store) unusedClient(source provider.ClientSource, cutoff time.Time) (string, []any) {
	now := dbTime(s.now())
	live := func(table, cond string) string {
		return " AND NOT EXISTS (SELECT 1 FROM " + table + " t WHERE t.client_id = " + tableClients + ".id AND " + cond + ")"
	}
	cond := "source = ? AND COALESCE(last_used_at, created_at) < ?" +
		live(tableRefresh, "t.active AND (t.expires_at IS NULL OR t.expires_at > ?)") +
		live(tableAccess, "t.active AND (t.expires_at IS NULL OR t.expires_at > ?)") +
		live(tableCodes, "t.active AND (t.expires_at IS NULL OR t.expires_at > ?)") +
		live(tablePending, "t.consumed_at IS NULL AND t.expires_at > ?") +
		live(tableDevice, "t.status IN ('pending', 'approved') AND t.expires_at > ?")
	return cond, []any{string(source), dbTime(cutoff), now, now, now, now, now}
}

// DeleteUnusedClient implements registration.UnusedClientDeleter: DeleteClient with the
// condition that the client is still an unused one of source (see unusedClient), checked
// by the client row's DELETE, which runs first, so that a login that began after the
// listing keeps its client. When the condition no longer holds nothing is deleted and the
// result is fosite.ErrNotFound.
func (s *Store) DeleteUnusedClient(ctx context.Context, id string, source provider.ClientSource, cutoff time.Time) error {
	cond, args := s.unusedClient(source, cutoff)
	return s.deleteClientIf(ctx, id, cond, args...)
}
