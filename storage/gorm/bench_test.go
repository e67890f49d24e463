package gormstore_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ory/fosite"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkStorage measures the storage calls of fosite's hot paths on each backend:
// introspection (one access token read with client reload), a code exchange (create code +
// PKCE, then fosite's exchange sequence) and a refresh rotation (fosite's refresh sequence).
func BenchmarkStorage(b *testing.B) {
	for _, backend := range gormtest.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			db := gormtest.NewDatabase(b, backend)
			s := db.Open(b, gormtest.DefaultOptions(b))
			c := context.Background()
			cl := mustCreateClient(b, s, "client")
			// -count reruns each sub-benchmark on the same store: every run needs its own keys.
			run := 0

			b.Run("Introspect", func(b *testing.B) {
				run++
				at := fmt.Sprintf("at-%d", run)
				req := newRequest(cl, fmt.Sprintf("grant-introspect-%d", run), "m")
				must(b, s.CreateAccessTokenSession(c, at, req))
				b.ResetTimer()
				for b.Loop() {
					if _, err := s.GetAccessTokenSession(c, at, &fosite.DefaultSession{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("CodeExchange", func(b *testing.B) {
				run++
				i := 0
				for b.Loop() {
					i++
					code, at, rt := fmt.Sprintf("code-%d-%d", run, i), fmt.Sprintf("at-x-%d-%d", run, i), fmt.Sprintf("rt-x-%d-%d", run, i)
					req := newRequest(cl, fmt.Sprintf("grant-x-%d-%d", run, i), "m")
					must(b, s.CreateAuthorizeCodeSession(c, code, req))
					must(b, s.CreatePKCERequestSession(c, code, req))
					ar, err := s.GetAuthorizeCodeSession(c, code, &fosite.DefaultSession{})
					must(b, err)
					_, err = s.GetPKCERequestSession(c, code, &fosite.DefaultSession{})
					must(b, err)
					must(b, s.DeletePKCERequestSession(c, code))
					must(b, inTX(s, c, func(tx context.Context) error {
						if err := s.InvalidateAuthorizeCodeSession(tx, code); err != nil {
							return err
						}
						if err := s.CreateAccessTokenSession(tx, at, ar); err != nil {
							return err
						}
						return s.CreateRefreshTokenSession(tx, rt, at, ar)
					}))
				}
			})
			b.Run("RefreshRotation", func(b *testing.B) {
				run++
				req := newRequest(cl, fmt.Sprintf("grant-r-%d", run), "m")
				must(b, s.CreateRefreshTokenSession(c, fmt.Sprintf("rt-r-%d-0", run), "", req))
				i := 0
				rotate := func() {
					cur, next, at := fmt.Sprintf("rt-r-%d-%d", run, i), fmt.Sprintf("rt-r-%d-%d", run, i+1), fmt.Sprintf("at-r-%d-%d", run, i+1)
					i++
					orig, err := s.GetRefreshTokenSession(c, cur, &fosite.DefaultSession{})
					must(b, err)
					must(b, inTX(s, c, func(tx context.Context) error {
						if err := s.RotateRefreshToken(tx, orig.GetID(), cur); err != nil {
							return err
						}
						if err := s.CreateAccessTokenSession(tx, at, orig); err != nil {
							return err
						}
						return s.CreateRefreshTokenSession(tx, next, at, orig)
					}))
				}
				for b.Loop() {
					rotate()
				}
				if backend == gormtest.SQLite {
					b.ReportMetric(walPagesPerOp(b, s, db.Path, 200, rotate), "wal-pages/op")
					b.ReportMetric(walPagesSpread(b, s, db.Path, cl, run), "wal-pages-spread/op")
				}
			})
		})
	}
}

// walPagesPerOp runs op runs times (outside the timed loop) and returns how many pages
// SQLite appended to the write-ahead log per run: what a commit writes, the largest part
// of a write's cost on SQLite (each page is a 4 KiB write at COMMIT). It checkpoints
// first and holds checkpoints off while it counts.
func walPagesPerOp(b *testing.B, s *gormstore.Store, path string, runs int, op func()) float64 {
	b.Helper()
	must(b, s.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error)
	must(b, s.DB().Exec("PRAGMA wal_autocheckpoint=0").Error)
	defer func() { must(b, s.DB().Exec("PRAGMA wal_autocheckpoint=1000").Error) }()
	size := func() int64 {
		st, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return st.Size()
	}
	var pageSize int64
	must(b, s.DB().Raw("PRAGMA page_size").Scan(&pageSize).Error)
	before := size()
	for range runs {
		op()
	}
	const frameHeader = 24 // each WAL frame: a 24-byte header and one page
	return float64(size()-before) / float64(pageSize+frameHeader) / float64(runs)
}

// walPagesSpread returns the WAL pages per rotation when the rotated grants' tokens are
// spread over the tables, as on a server whose clients refresh every hour or so (the
// timed loop rotates one grant back to back, so the rows a rotation deactivates sit on
// the pages the previous rotation wrote anyway): 2000 grants rotated round-robin three
// times, then 500 rotations of grants picked in a stride across them.
func walPagesSpread(b *testing.B, s *gormstore.Store, path string, cl fosite.Client, run int) float64 {
	b.Helper()
	c := context.Background()
	const grants = 2000
	gen := make([]int, grants)
	rotate := func(g int) {
		cur, at, next := fmt.Sprintf("rt-s-%d-%d-%d", run, g, gen[g]), fmt.Sprintf("at-s-%d-%d-%d", run, g, gen[g]+1), fmt.Sprintf("rt-s-%d-%d-%d", run, g, gen[g]+1)
		gen[g]++
		orig, err := s.GetRefreshTokenSession(c, cur, &fosite.DefaultSession{})
		must(b, err)
		must(b, rotateAsFosite(s, c, orig, cur, at, next))
	}
	for g := range grants {
		req := newRequest(cl, fmt.Sprintf("grant-s-%d-%d", run, g), "m")
		at := fmt.Sprintf("at-s-%d-%d-0", run, g)
		must(b, s.CreateAccessTokenSession(c, at, req))
		must(b, s.CreateRefreshTokenSession(c, fmt.Sprintf("rt-s-%d-%d-0", run, g), at, req))
	}
	for range 3 {
		for g := range grants {
			rotate(g)
		}
	}
	const runs = 500
	i := 0
	return walPagesPerOp(b, s, path, runs, func() {
		rotate(i * 7 % grants)
		i++
	})
}

// rotateAsFosite runs fosite's refresh sequence in a transaction of its own: rotate rt,
// then store the new access and refresh tokens at and next.
func rotateAsFosite(s *gormstore.Store, c context.Context, orig fosite.Requester, rt, at, next string) error {
	return inTX(s, c, func(tx context.Context) error {
		if err := s.RotateRefreshToken(tx, orig.GetID(), rt); err != nil {
			return err
		}
		if err := s.CreateAccessTokenSession(tx, at, orig); err != nil {
			return err
		}
		return s.CreateRefreshTokenSession(tx, next, at, orig)
	})
}
