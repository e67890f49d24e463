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

// TestPurge_Migration9InactiveRefreshIndex: migration 9 applies on both databases (the schema
// reaches version 9 and the partial index on inactive refresh tokens exists), and SQLite
// answers Purge's search for inactive rows of grants without an active one from that index
// instead of scanning the table (its rows carry the session data).
func TestPurge_Migration9InactiveRefreshIndex(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		if v, err := s.SchemaVersion(c); err != nil || v < 9 {
			t.Fatalf("SchemaVersion = %d, %v; want ≥ 9", v, err)
		}
		const idx = "oauth_refresh_tokens_inactive_idx"
		var n int64
		q := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
		if s.Dialect() == "postgres" {
			// The index's predicate is printed only once the catalog rows are narrowed to this
			// test's schema (MATERIALIZED): other tests drop their schemas concurrently, and
			// printing the definition of an index being dropped fails ("could not open
			// relation"), as pg_indexes, which may print before it filters, did.
			q = `WITH mine AS MATERIALIZED (
				SELECT i.indexrelid, i.indrelid, i.indpred FROM pg_index i
				JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = current_schema() AND c.relname = ?)
				SELECT count(*) FROM mine WHERE pg_get_expr(indpred, indrelid) LIKE '%active = false%'`
		}
		must(t, s.DB().Raw(q, idx).Scan(&n).Error)
		if n != 1 {
			t.Fatalf("%s: %d partial indexes; want 1", idx, n)
		}
		if s.Dialect() == "postgres" {
			return // the planner chooses by statistics; the index exists, that is all to pin
		}
		var plan []struct {
			ID, Parent, NotUsed int
			Detail              string
		}
		must(t, s.DB().Raw("EXPLAIN QUERY PLAN SELECT r.signature FROM oauth_refresh_tokens r WHERE r.active = FALSE AND NOT EXISTS "+
			"(SELECT 1 FROM oauth_refresh_tokens a WHERE a.request_id = r.request_id AND a.active = ?) LIMIT 1000", true).Scan(&plan).Error)
		if len(plan) == 0 || plan[0].Detail != "SCAN r USING COVERING INDEX "+idx {
			t.Errorf("plan of Purge's search for inactive refresh tokens: %+v; want SCAN r USING COVERING INDEX %s", plan, idx)
		}
	})
}
