package jwtaccess_test

import (
	"context"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkVerifyAccessToken compares a resource server's per-request check:
//   - jwt-local-es256, jwt-local-rs256: Verifier with the key manager's in-memory keys (no
//     database);
//   - jwt-provider/<db>: Provider.VerifyAccessToken on a JWT (signature twice plus the
//     storage lookup that sees revocation);
//   - opaque-provider/<db>: Provider.VerifyAccessToken on an opaque HMAC token (HMAC plus
//     the storage lookup).
//
// Run with a bounded count on this shared machine, e.g.
// ./test/with-postgres.sh go test -run '^$' -bench VerifyAccessToken -benchtime 2000x ./provider/jwtaccess/
func BenchmarkVerifyAccessToken(b *testing.B) {
	ctx := context.Background()
	run := func(name string, verify func(context.Context, string) error, token string) {
		b.Run(name, func(b *testing.B) {
			if err := verify(ctx, token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, backend := range gormtest.Backends(b) {
		jwtEnv := newEnv(b, gormtest.Open(b, backend), envOptions{})
		jwt := jwtEnv.tokens("read").AccessToken
		if backend == gormtest.SQLite {
			run("jwt-local-es256", func(ctx context.Context, tok string) error {
				_, err := jwtEnv.verifier.VerifyAccessToken(ctx, tok)
				return err
			}, jwt)
			rsEnv := newEnv(b, gormtest.Open(b, backend), envOptions{keys: jwtaccess.KeyManagerConfig{Algorithm: "RS256"}})
			run("jwt-local-rs256", func(ctx context.Context, tok string) error {
				_, err := rsEnv.verifier.VerifyAccessToken(ctx, tok)
				return err
			}, rsEnv.tokens("read").AccessToken)
		}
		run("jwt-provider/"+backend, func(ctx context.Context, tok string) error {
			_, err := jwtEnv.p.VerifyAccessToken(ctx, tok)
			return err
		}, jwt)
		opaqueEnv := newEnv(b, gormtest.Open(b, backend), envOptions{opaque: true})
		opaque := opaqueEnv.tokens("read").AccessToken
		run("opaque-provider/"+backend, func(ctx context.Context, tok string) error {
			_, err := opaqueEnv.p.VerifyAccessToken(ctx, tok)
			return err
		}, opaque)
	}
}
