package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Revoking a grant while one of its refresh tokens is being rotated.
//
// A rotation (RotateRefreshToken, RotateRefreshTokenWithGrace) runs in fosite's transaction:
// a conditional write on the presented token's row, then the INSERT of the new tokens, then
// COMMIT. The row it writes is "live" (active, or rotated within a grace window: first_used_at
// set) until then, and stays locked until COMMIT. A revocation that takes its snapshot before
// that COMMIT cannot see the new tokens; it must wait for the rotation and look again:
//
//   - On its own (fosite's revocation endpoint and code-reuse handling call it without a
//     transaction), a revocation runs in a transaction of its own at READ COMMITTED on
//     PostgreSQL, where every statement takes a fresh snapshot and an UPDATE waits for a row
//     another transaction locked, then re-checks it. It repeats its UPDATE until one changes
//     nothing and a fresh read (anyLiveRefresh) then shows no live refresh token of the
//     grant. A round that waited for a rotation may change nothing — the rotation left no
//     live row behind, and its new token came after the round's snapshot — so "changed
//     nothing" alone does not prove the grant dead; the read after it sees the new token
//     and sends the revocation round again. (This store's rotations keep the rotated row
//     live, first_used_at set, and mint an access token the round deletes, so after a wait
//     the round changes something anyway; the read makes the rule hold for any rotation.)
//     The rows it wrote stay locked until it commits, so no rotation can start from them
//     meanwhile, and one holding any other live row shows in the read. SQLite takes the write
//     lock at BEGIN (IMMEDIATE), after any rotation has committed, so the first round sees
//     everything and the second confirms it.
//   - In a caller's transaction (fosite's reuse detection; REPEATABLE READ on PostgreSQL) the
//     snapshot is the caller's and may predate a rotation that commits while the revocation
//     waits; PostgreSQL then refuses the write (40001). The revocation therefore runs inside a
//     savepoint, so that a conflict does not abort the caller's transaction, and runs again on
//     its own, as above, once the caller's transaction has committed (Commit does it and
//     reports its error). A caller that rolls back revokes nothing. On SQLite the caller's
//     transaction holds the write lock, so no rotation can be in flight.
//
// A rotation that comes after the revocation's write finds its token no longer live and fails
// (fosite.ErrSerializationFailure), so it never mints tokens for a revoked grant.

const (
	// revokeMaxRounds bounds the rounds of one revocation transaction. Each round beyond the
	// second means a rotation of the grant committed while the previous one waited.
	revokeMaxRounds = 16
	// revokeAttempts bounds the transactions one revocation tries when PostgreSQL aborts
	// one (a deadlock with a rotation that locks the grant's rows in another order).
	revokeAttempts = 5
	// revokeSavepoint names the savepoint of a revocation inside a caller's transaction.
	revokeSavepoint = "fmcp_revoke"
)

// liveRefresh selects the refresh tokens of a grant that a revocation must deactivate: the
// active ones and the rotated ones still able to open a grace window.
const liveRefresh = "request_id = ? AND (active = ? OR first_used_at IS NOT NULL)"

// RevokeRefreshToken implements oauth2.TokenRevocationStorage: it deactivates every refresh
// token of the grant (request ID), so that any of them presented again yields
// fosite.ErrInactiveToken (and reuse detection) rather than a silent not-found, clears
// first_used_at, which ends the grace window (provider.RefreshTokenGrace) of every rotated
// token of the grant, and deletes the grant's access tokens (RFC 7009 §2.1: revoking a
// refresh token invalidates the access tokens of the same grant).
//
// It covers tokens minted by a rotation of the grant that runs concurrently: once it has
// returned nil (and, in a transaction, once that transaction's Commit has returned nil), no
// refresh or access token of the grant works, and none can be minted from it. Revoking a
// grant without tokens is not an error.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.revokeGrant(ctx, requestID, true)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage: it deletes every access token
// of the grant (request ID), including one minted by a rotation of the grant that was in
// flight: on PostgreSQL it first waits for such a rotation by locking the grant's live refresh
// tokens. The grant's refresh tokens stay valid (revoke them with RevokeRefreshToken, which
// also deletes the access tokens). Revoking a grant without tokens is not an error.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.revokeGrant(ctx, requestID, false)
}

func (s *Store) revokeGrant(ctx context.Context, requestID string, refresh bool) error {
	defer s.tokensChanged(ctx)
	if st := openTx(ctx); st != nil {
		return s.revokeInTx(ctx, st, requestID, refresh)
	}
	return s.revokeOwnTx(ctx, requestID, refresh)
}

// openTx returns the open transaction ctx carries, or nil.
func openTx(ctx context.Context) *txState {
	ref := txFrom(ctx)
	if ref == nil {
		return nil
	}
	ref.st.mu.Lock()
	defer ref.st.mu.Unlock()
	if ref.st.done {
		return nil
	}
	return ref.st
}

// revokeInTx revokes inside the caller's transaction st (see the comment at the top).
func (s *Store) revokeInTx(ctx context.Context, st *txState, requestID string, refresh bool) error {
	st.mu.Lock()
	db := s.gormTx(st).WithContext(ctx)
	st.mu.Unlock()
	if s.dialect != dialectPostgres {
		_, err := s.revokeRound(db, requestID, refresh)
		return s.mapErr(err)
	}
	if err := db.Exec("SAVEPOINT " + revokeSavepoint).Error; err != nil {
		return s.mapErr(err)
	}
	_, err := s.revokeRound(db, requestID, refresh)
	switch {
	case err == nil:
		err = db.Exec("RELEASE SAVEPOINT " + revokeSavepoint).Error
	case isConflict(err):
		// The snapshot predates a concurrent rotation: undo this attempt, keep the caller's
		// transaction usable, and let the run after COMMIT do the revocation.
		err = db.Exec("ROLLBACK TO SAVEPOINT " + revokeSavepoint).Error
	}
	if err != nil {
		return s.mapErr(err)
	}
	st.mu.Lock()
	st.afterCommit = append(st.afterCommit, func(ctx context.Context) error {
		if err := s.revokeOwnTx(ctx, requestID, refresh); err != nil {
			return fmt.Errorf("gormstore: revocation after commit: %w", err)
		}
		return nil
	})
	st.mu.Unlock()
	return nil
}

// revokeOwnTx revokes in transactions of its own, retrying one PostgreSQL aborts.
func (s *Store) revokeOwnTx(ctx context.Context, requestID string, refresh bool) error {
	defer s.revocations.Add(1) // RevokeGrants and the run after a caller's commit come here directly
	for attempt := 1; ; attempt++ {
		err := s.revokeOnce(ctx, requestID, refresh)
		if err == nil || !isConflict(err) || attempt >= revokeAttempts {
			return s.mapErr(err)
		}
		t := time.NewTimer(time.Duration(attempt*attempt) * 5 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return s.mapErr(err)
		}
	}
}

// revokeOnce is one revocation transaction: READ COMMITTED on PostgreSQL (each round sees
// what committed before it), BEGIN IMMEDIATE on SQLite.
func (s *Store) revokeOnce(ctx context.Context, requestID string, refresh bool) (err error) {
	opts := s.txOptions()
	if s.dialect == dialectPostgres {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx := s.db.WithContext(ctx).Begin(opts)
	if tx.Error != nil {
		return tx.Error
	}
	defer func() {
		if err == nil {
			return
		}
		if rerr := tx.Rollback().Error; rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			s.log.WarnContext(ctx, "rollback failed", "error", rerr)
		}
	}()
	for round := 1; ; round++ {
		n, err := s.revokeRound(tx, requestID, refresh)
		if err != nil {
			return err
		}
		if !refresh {
			break
		}
		if n == 0 {
			// A round that waited for a rotation may change nothing (the rotation left
			// no live row behind) while the rotation's new token, committed after this
			// round's snapshot, is live. Stop only when a fresh snapshot shows no live
			// token of the grant: the ones this transaction revoked it holds, so no
			// rotation can start from them, and any other would show here.
			live, err := s.anyLiveRefresh(tx, requestID)
			if err != nil {
				return err
			}
			if !live {
				break
			}
		}
		if round >= revokeMaxRounds {
			// Keep what was revoked; the caller is told to try again.
			if err := tx.Commit().Error; err != nil {
				return err
			}
			return fmt.Errorf("%w: the grant kept being refreshed during its revocation", fosite.ErrSerializationFailure)
		}
	}
	return tx.Commit().Error
}

// anyLiveRefresh reports whether db sees a live refresh token of the grant (one revokeRound
// would deactivate). On SQLite the revocation holds the write lock, so no rotation can have
// committed since its round: it answers false without a query.
func (s *Store) anyLiveRefresh(db *gorm.DB, requestID string) (bool, error) {
	if s.dialect != dialectPostgres {
		return false, nil
	}
	var sigs []string
	err := db.Table(tableRefresh).Where(liveRefresh, requestID, true).Limit(1).Pluck("signature", &sigs).Error
	return len(sigs) > 0, err
}

// revokeRound deactivates the grant's live refresh tokens (refresh) or, on PostgreSQL, waits
// for rotations in flight by locking them (access only), then deletes the grant's access
// tokens. It returns how many rows it changed.
func (s *Store) revokeRound(db *gorm.DB, requestID string, refresh bool) (int64, error) {
	var n int64
	if refresh {
		res := db.Table(tableRefresh).Where(liveRefresh, requestID, true).
			Updates(map[string]any{"active": false, "first_used_at": nil})
		if res.Error != nil {
			return 0, res.Error
		}
		n += res.RowsAffected
	} else if s.dialect == dialectPostgres {
		var locked []string
		if err := db.Table(tableRefresh).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where(liveRefresh, requestID, true).Pluck("signature", &locked).Error; err != nil {
			return 0, err
		}
	}
	res := db.Table(tableAccess).Where("request_id = ?", requestID).Delete(&sessionRow{})
	if res.Error != nil {
		return 0, res.Error
	}
	return n + res.RowsAffected, nil
}
