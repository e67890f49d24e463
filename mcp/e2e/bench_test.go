package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkProtect measures bearer verification through (*mcp.Server).Protect in
// process: an opaque (HMAC) access token from a real login, verified on every request
// (signature, audience, expiry, scope; the provider reads it from each database once per
// VerifiedTokenCacheTTL and from its verified-token cache otherwise), serially and from
// parallel goroutines. Run with -benchtime=2000x.
func BenchmarkProtect(b *testing.B) {
	for _, backend := range gormtest.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			s := newStack(b, gormtest.Open(b, backend), stackConfig{oneResource: true})
			c := newRawClient(b, s)
			q, verifier, err := c.authorize(b, s.MCPURL)
			if err != nil {
				b.Fatal(err)
			}
			status, tok := c.exchange(b, q.Get("code"), verifier, s.MCPURL)
			if status != http.StatusOK {
				b.Fatalf("exchange: %d %+v", status, tok)
			}
			h, err := s.Server.Protect(s.MCPURL, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), scopeTools)
			if err != nil {
				b.Fatal(err)
			}
			// serve reports false (and the answer) when the request was refused; only the
			// benchmark goroutine may stop the benchmark.
			serve := func(b *testing.B) bool {
				req := httptest.NewRequest(http.MethodPost, s.MCPURL, nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Errorf("status %d: %s", w.Code, w.Body)
					return false
				}
				return true
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !serve(b) {
						return
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() && serve(b) {
					}
				})
			})
		})
	}
}
