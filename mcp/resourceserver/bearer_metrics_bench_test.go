package resourceserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/metrics"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkBearerMetrics measures what Prometheus metrics (BearerOptions.Observer set
// to a provider/metrics observer) cost the bearer middleware: off and on, with opaque
// tokens verified against each database, and with a verifier that answers from memory
// (the worst case for relative overhead: the middleware's own work is all there is).
// README's benchmark section reports the numbers.
func BenchmarkBearerMetrics(b *testing.B) {
	const resource = "https://mcp.example.com/mcp"
	withMetrics := func(b *testing.B) observe.Observer {
		m, err := metrics.New(metrics.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	run := func(b *testing.B, v resourceserver.AccessTokenVerifier, token string) {
		for _, on := range []bool{false, true} {
			b.Run(map[bool]string{false: "off", true: "metrics"}[on], func(b *testing.B) {
				opts := resourceserver.BearerOptions{Resource: resource, Scopes: []string{"files:read"}}
				if on {
					opts.Observer = withMetrics(b)
				}
				h := resourceserver.MustRequireBearer(v, opts)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				benchBearer(b, h, resource, token)
			})
		}
	}
	b.Run("memory", func(b *testing.B) {
		tok := &provider.AccessToken{Subject: "alice", ClientID: "c", Scopes: []string{"files:read"},
			Audience: []string{resource}, ExpiresAt: time.Now().Add(time.Hour)}
		run(b, resourceserver.AccessTokenVerifierFunc(func(context.Context, string) (*provider.AccessToken, error) { return tok, nil }), "t0ken")
	})
	for _, backend := range gormtest.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			a, token := opaqueToken(b, backend, resource, nil)
			run(b, a.Provider, token)
		})
	}
}
