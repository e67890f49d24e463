package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

var testGrace = provider.RefreshTokenGrace{Period: 30 * time.Second, MaxReuses: 2}

// clock is a store clock tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func runWithClock(t *testing.T, fn func(t *testing.T, s *gormstore.Store, clk *clock)) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		clk := &clock{}
		opts := gormtest.DefaultOptions(t)
		opts.Now = clk.now
		fn(t, db.Open(t, opts), clk)
	})
}

// refreshWithGrace does what fosite's refresh handler does through the provider's grace
// routing: read outside the transaction, then rotate and issue new tokens inside it,
// retrying a lost race as the provider's token endpoint does.
func refreshWithGrace(s *gormstore.Store, c context.Context, rt string, i int) error {
	var err error
	for attempt := 0; attempt < 2*testGrace.MaxReuses+3; attempt++ {
		var orig fosite.Requester
		orig, err = s.GetRefreshTokenSessionWithGrace(c, rt, &fosite.DefaultSession{}, testGrace)
		if err != nil {
			return err
		}
		err = inTX(s, c, func(tx context.Context) error {
			if err := s.RotateRefreshTokenWithGrace(tx, orig.GetID(), rt, testGrace); err != nil {
				return err
			}
			at, nrt := fmt.Sprintf("at-%d", i), fmt.Sprintf("rt-%d", i)
			if err := s.CreateAccessTokenSession(tx, at, orig); err != nil {
				return err
			}
			return s.CreateRefreshTokenSession(tx, nrt, at, orig)
		})
		if !errors.Is(err, fosite.ErrSerializationFailure) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return err
}

// TestConcurrency_RefreshGraceBoundsReuses: 20 concurrent refreshes with one refresh token
// under a grace window of 2 reuses. Exactly 3 succeed (the rotation and 2 reuses, each
// with tokens of its own), the rest fail with ErrRefreshTokenReuseLimit, nothing is
// revoked; only the access token issued with the presented refresh token is deleted. After
// the window, the token is inactive again (reuse detection).
func TestConcurrency_RefreshGraceBoundsReuses(t *testing.T) {
	runWithClock(t, func(t *testing.T, s *gormstore.Store, clk *clock) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		must(t, s.CreateAccessTokenSession(c, "at-0", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-0", "at-0", req))
		must(t, s.CreateAccessTokenSession(c, "at-other", req)) // another chain's access token

		errs := race(func(i int) error { return refreshWithGrace(s, c, "rt-0", i+1) })
		var wins []int
		for i, err := range errs {
			switch {
			case err == nil:
				wins = append(wins, i+1)
			case errors.Is(err, provider.ErrRefreshTokenReuseLimit):
			default:
				t.Errorf("refresh %d: %v; want success or ErrRefreshTokenReuseLimit", i, err)
			}
		}
		if len(wins) != 1+testGrace.MaxReuses {
			t.Fatalf("%d refreshes succeeded; want %d (one rotation and MaxReuses reuses)", len(wins), 1+testGrace.MaxReuses)
		}
		for _, i := range wins {
			if _, err := s.GetRefreshTokenSession(c, fmt.Sprintf("rt-%d", i), nil); err != nil {
				t.Errorf("refresh token of winner %d: %v", i, err)
			}
			if _, err := s.GetAccessTokenSession(c, fmt.Sprintf("at-%d", i), nil); err != nil {
				t.Errorf("access token of winner %d: %v", i, err)
			}
		}
		if _, err := s.GetAccessTokenSession(c, "at-0", nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access token issued with the rotated refresh token: %v; want ErrNotFound", err)
		}
		if _, err := s.GetAccessTokenSession(c, "at-other", nil); err != nil {
			t.Errorf("another chain's access token: %v; want it kept", err)
		}
		var used int
		must(t, s.DB().Raw("SELECT used_count FROM oauth_refresh_tokens WHERE request_id = ? AND used_count > 0", "grant").Scan(&used).Error)
		if used != 1+testGrace.MaxReuses {
			t.Errorf("used_count = %d, want %d", used, 1+testGrace.MaxReuses)
		}

		clk.advance(testGrace.Period)
		got, err := s.GetRefreshTokenSessionWithGrace(c, "rt-0", &fosite.DefaultSession{}, testGrace)
		if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetID() != "grant" {
			t.Errorf("after the window: %v, %v; want requester + ErrInactiveToken", got, err)
		}
		if _, err := s.GetRefreshTokenSessionWithGrace(c, "unknown", nil, testGrace); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("unknown token: %v; want ErrNotFound", err)
		}
	})
}

// Revoking the grant (RFC 7009, or reuse detection) ends the grace window of its rotated
// tokens: a reuse right after is inactive, never fresh tokens for a revoked grant.
func TestRefreshGrace_RevocationEndsTheWindow(t *testing.T) {
	runWithClock(t, func(t *testing.T, s *gormstore.Store, _ *clock) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		must(t, s.CreateAccessTokenSession(c, "at-0", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-0", "at-0", req))
		must(t, refreshWithGrace(s, c, "rt-0", 1))
		if _, err := s.GetRefreshTokenSessionWithGrace(c, "rt-0", nil, testGrace); err != nil {
			t.Fatalf("rotated token within the window: %v; want reusable", err)
		}
		must(t, s.RevokeRefreshToken(c, "grant"))
		if _, err := s.GetRefreshTokenSessionWithGrace(c, "rt-0", nil, testGrace); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("rotated token after revocation: %v; want ErrInactiveToken", err)
		}
		if err := inTX(s, c, func(tx context.Context) error {
			return s.RotateRefreshTokenWithGrace(tx, "grant", "rt-0", testGrace)
		}); !errors.Is(err, fosite.ErrSerializationFailure) {
			t.Errorf("rotation after revocation: %v; want refused", err)
		}
		if _, err := s.GetRefreshTokenSessionWithGrace(c, "rt-1", nil, testGrace); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("new token after revocation: %v; want ErrInactiveToken", err)
		}
	})
}
