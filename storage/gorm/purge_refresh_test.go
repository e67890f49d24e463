package gormstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestPurge_InactiveRefreshTokens (RFC 9700 §4.14.2): Purge keeps a rotated refresh token's
// row while its grant still has an active refresh token (presenting it again must be
// detected as reuse and revoke that token), and deletes inactive rows — rotated, or revoked
// with their grant — as soon as their grant has no active token left, long before their
// own 14-day expiry. With the clock moved past the newest token's expiry, the whole chain
// goes.
func TestPurge_InactiveRefreshTokens(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		live, revoked := newRequest(cl, "grant-live", "m"), newRequest(cl, "grant-revoked", "m")
		must(t, s.CreateRefreshTokenSession(c, "rt-live-1", "", live))
		must(t, inTX(s, c, func(tx context.Context) error { // a rotation: rt-live-1 → rt-live-2
			if err := s.RotateRefreshToken(tx, live.GetID(), "rt-live-1"); err != nil {
				return err
			}
			return s.CreateRefreshTokenSession(tx, "rt-live-2", "", live)
		}))
		must(t, s.CreateRefreshTokenSession(c, "rt-revoked", "", revoked))
		must(t, s.RevokeRefreshToken(c, revoked.GetID()))

		state := func(sig string) error {
			_, err := s.GetRefreshTokenSession(c, sig, &fosite.DefaultSession{})
			return err
		}
		now := time.Now()
		if _, err := s.Purge(c, now); err != nil {
			t.Fatal(err)
		}
		if err := state("rt-revoked"); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("revoked grant's refresh token after Purge: %v; want deleted", err)
		}
		if err := state("rt-live-1"); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("rotated token of a live grant after Purge: %v; want kept, inactive (reuse detection)", err)
		}
		if err := state("rt-live-2"); err != nil {
			t.Errorf("active token after Purge: %v", err)
		}

		if _, err := s.Purge(c, now.Add(15*24*time.Hour)); err != nil { // past rt-live-2's 14 days
			t.Fatal(err)
		}
		var left int64
		must(t, s.DB().Table("oauth_refresh_tokens").Where("request_id IN ?", []string{live.GetID(), revoked.GetID()}).Count(&left).Error)
		if left != 0 {
			t.Errorf("%d refresh token rows left once the newest expired; want 0", left)
		}
	})
}
