package gormstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

var _ provider.RefreshTokenGraceStorage = (*Store)(nil)

// graceState says what a refresh token row allows under a grace window.
type graceState int

const (
	graceActive    graceState = iota // not yet used: a normal rotation
	graceReusable                    // rotated within the window, reuses left
	graceExhausted                   // rotated within the window, no reuses left
	graceInactive                    // revoked, or rotated before the window
)

// graceOf classifies row at now. first_used_at is set by the first rotation and cleared
// when the grant is revoked (RevokeRefreshToken), which ends every window of the grant;
// used_count counts the first rotation and every reuse after it.
func graceOf(row *refreshRow, now time.Time, g provider.RefreshTokenGrace) graceState {
	switch {
	case row.Base.Active:
		return graceActive
	case row.FirstUsedAt == nil || g.Period <= 0 || !now.Before(row.FirstUsedAt.Add(g.Period)):
		return graceInactive
	case row.UsedCount <= g.MaxReuses: // the first use plus at most MaxReuses reuses
		return graceReusable
	default:
		return graceExhausted
	}
}

// GetRefreshTokenSessionWithGrace implements provider.RefreshTokenGraceStorage: a rotated
// token within its grace window with reuses left is returned as if active; within the
// window without reuses left, with an error wrapping provider.ErrRefreshTokenReuseLimit;
// otherwise as GetRefreshTokenSession.
func (s *Store) GetRefreshTokenSessionWithGrace(ctx context.Context, signature string, session fosite.Session, grace provider.RefreshTokenGrace) (fosite.Requester, error) {
	row, err := s.selectSession(ctx, tableRefresh, signatureKey(signature))
	if err != nil {
		return nil, err
	}
	req, err := s.rowToRequest(ctx, tableRefresh, &row.Base, session)
	if err != nil {
		return nil, err
	}
	switch graceOf(row, s.now(), grace) {
	case graceActive, graceReusable:
		return req, nil
	case graceExhausted:
		return req, fmt.Errorf("gormstore: %w", provider.ErrRefreshTokenReuseLimit)
	default:
		return req, fosite.ErrInactiveToken
	}
}

// RotateRefreshTokenWithGrace implements provider.RefreshTokenGraceStorage. The first use
// deactivates the token (recording first_used_at and used_count 1) and deletes only the
// access token issued with it: the grant's other token chains, born of earlier reuses,
// stay valid. A reuse within the window increments used_count with a write conditional on
// the count it read, so that concurrent reuses never exceed grace.MaxReuses; a reuse that
// finds them used up wraps provider.ErrRefreshTokenReuseLimit; a lost race, or a window
// that has closed, is fosite.ErrSerializationFailure (the provider retries, and the
// retry's read decides). Unknown token: fosite.ErrNotFound.
//
// The first use, by far the most common, is two prepared statements (the conditional
// rotation, then the delete of the access token the row names), one on PostgreSQL (a
// data-modifying CTE); only a token that is no longer active is read and classified.
func (s *Store) RotateRefreshTokenWithGrace(ctx context.Context, requestID, signature string, grace provider.RefreshTokenGrace) error {
	defer s.tokensChanged(ctx) // the presented token's access token is deleted
	return s.rotateInTx(ctx, requestID, signature, s.hot.rotateIssued, func(st *txState, key string, now time.Time, n int64) error {
		if n == 1 && s.hot.rotateIssued != "" {
			return nil // the access token went with the rotation
		}
		if n == 1 {
			_, err := s.exec(ctx, st.conn, s.hot.deleteIssued, key)
			return s.mapErr(err)
		}
		db := s.txDB(ctx, st)
		var row refreshRow
		if err := db.Table(tableRefresh).Where("signature = ? AND request_id = ?", key, requestID).Take(&row).Error; err != nil {
			return s.mapErr(err)
		}
		switch graceOf(&row, now, grace) {
		case graceReusable:
			res := db.Table(tableRefresh).
				Where("signature = ? AND active = ? AND used_count = ? AND first_used_at IS NOT NULL", key, false, row.UsedCount).
				Update("used_count", gorm.Expr("used_count + 1"))
			if res.Error != nil {
				return s.mapErr(res.Error)
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("%w: refresh token reused concurrently", fosite.ErrSerializationFailure)
			}
			return nil
		case graceExhausted:
			// Read in the write transaction: what the reuses already written say, which a
			// read outside it (the caller's, on SQLite a reader connection that does not
			// see a group commit batch before its COMMIT) may not have seen yet.
			return fmt.Errorf("gormstore: %w", provider.ErrRefreshTokenReuseLimit)
		default: // graceActive cannot be (the rotation above found no active row)
			return fmt.Errorf("%w: refresh token no longer reusable", fosite.ErrSerializationFailure)
		}
	})
}
