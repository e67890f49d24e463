package mcpgo_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/mcpgo"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkProtectedInitialize is test/load's bearer phase in process over loopback HTTP
// with the mcp-go adapter, for comparison with go-sdk's (mcp/gosdk, same loop): an MCP
// initialize with an opaque bearer token through mcpgo.RequireBearer (token check, the
// sessions guard) into mcp-go's StreamableHTTPServer, then the DELETE of the session it
// opened; and stateless (no session, no DELETE). CPU and allocations are the whole
// process's.
func BenchmarkProtectedInitialize(b *testing.B) {
	for _, backend := range gormtest.Backends(b) {
		for _, v := range []struct {
			name string
			opts []server.StreamableHTTPOption
		}{
			{"sessions", nil},
			{"stateless", []server.StreamableHTTPOption{server.WithStateLess(true)}},
		} {
			b.Run(backend+"/"+v.name, func(b *testing.B) {
				srv := httptest.NewUnstartedServer(nil)
				url := "http://" + srv.Listener.Addr().String() + "/mcp"
				a, err := teststack.New(context.Background(), teststack.Bare(gormtest.Open(b, backend), []string{url}, nil))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(a.Close)
				tok, err := a.Tokens(teststack.DefaultSubject, "", url)
				if err != nil {
					b.Fatal(err)
				}
				protect, err := mcpgo.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: url}, mcpgo.WithSessions(teststack.SessionOptions(nil)))
				if err != nil {
					b.Fatal(err)
				}
				var purged atomic.Int64
				srv.Config.Handler = protect(server.NewStreamableHTTPServer(filesServer(&purged), v.opts...))
				srv.Start()
				b.Cleanup(srv.Close)
				teststack.BenchInitialize(b, url, tok.AccessToken)
			})
		}
	}
}
