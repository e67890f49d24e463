package gormstore

import (
	"context"
	"fmt"
)

// CountLiveGrants returns how many grants hold an active refresh token that has not
// expired (or never expires): the grants a user could still use without logging in
// again. It implements provider/metrics.GrantCounter for the live_grants gauge: one
// COUNT over the refresh token table's (request_id, active) index. Grants without a
// refresh token (client credentials, clients not allowed refresh_token) are not counted.
func (s *Store) CountLiveGrants(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Table(tableRefresh).
		Where("active = ? AND (expires_at IS NULL OR expires_at > ?)", true, dbTime(s.now())).
		Distinct("request_id").Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("gormstore: counting live grants: %w", s.mapErr(err))
	}
	return n, nil
}
