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
					b.ReportMetric(walPagesPerOp(b, s, db.Path, rotate), "wal-pages/op")
				}
			})
		})
	}
}

// walPagesPerOp runs op 200 times (outside the timed loop) and returns how many pages
// SQLite appended to the write-ahead log per run: what a commit writes, the largest part
// of a write's cost on SQLite (each page is a 4 KiB write at COMMIT). It checkpoints
// first and holds checkpoints off while it counts.
func walPagesPerOp(b *testing.B, s *gormstore.Store, path string, op func()) float64 {
	b.Helper()
	const runs = 200
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
	return float64(size()-before) / float64(pageSize+frameHeader) / runs
}
