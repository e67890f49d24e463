package gormstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkStorage measures the storage calls of fosite's hot paths on each backend:
// introspection (one access token read with client reload), a code exchange (create code +
// PKCE, then fosite's exchange sequence) and a refresh rotation (fosite's refresh sequence).
func BenchmarkStorage(b *testing.B) {
	for _, backend := range gormtest.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			s := gormtest.Open(b, backend)
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
				for b.Loop() {
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
			})
		})
	}
}
