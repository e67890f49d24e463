package resourceserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/benchcpu"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkBearer measures the middleware in process with opaque tokens verified by the
// provider against each database: as configured by default (the provider's verified-token
// cache answers), and with that cache off (one storage read per request).
func BenchmarkBearer(b *testing.B) {
	const resource = "https://mcp.example.com/mcp"
	for _, backend := range gormtest.Backends(b) {
		for _, variant := range []struct {
			name string
			edit func(*provider.Config)
		}{
			{backend, nil},
			{backend + "/uncached", func(c *provider.Config) { c.VerifiedTokenCacheTTL = -1 }},
		} {
			b.Run(variant.name, func(b *testing.B) {
				a, token := opaqueToken(b, backend, resource, variant.edit)
				h := resourceserver.MustRequireBearer(a.Provider, resourceserver.BearerOptions{Resource: resource, Scopes: []string{"files:read"}})(
					http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				benchBearer(b, h, resource, token)
			})
		}
	}
}

// opaqueToken starts an authorization server on backend (its Config changed by edit,
// when not nil) and returns it with an opaque access token for resource with the scope
// files:read; the server closes with b.
func opaqueToken(b *testing.B, backend, resource string, edit func(*provider.Config)) (*teststack.Stack, string) {
	a := teststack.Start(b, teststack.Bare(gormtest.Open(b, backend), []string{resource}, edit))
	tok, err := a.Tokens(teststack.DefaultSubject, "files:read", resource)
	if err != nil {
		b.Fatal(err)
	}
	return a, tok.AccessToken
}

// benchBearer runs requests with token through h, the bearer middleware for resource,
// in parallel, reporting allocations and CPU time per request.
func benchBearer(b *testing.B, h http.Handler, resource, token string) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchcpu.Start(b)
	defer cpu.Report()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, resource, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
