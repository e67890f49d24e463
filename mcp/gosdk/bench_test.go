package gosdk_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// BenchmarkProtectedInitialize is test/load's bearer phase in process, over loopback HTTP:
// an MCP initialize with an opaque bearer token through gosdk.RequireBearer (token check, the
// sessions guard) into go-sdk's StreamableHTTPHandler, then the DELETE of the session it
// opened, as the demo mounts it (SSE answers, stateful); with JSON answers (what the
// TypeScript model sends); and stateless (no session, no DELETE: the model's semantics).
// CPU and allocations are the whole process's: the client's share is the same in every
// variant.
func BenchmarkProtectedInitialize(b *testing.B) {
	for _, backend := range gormtest.Backends(b) {
		for _, v := range []struct {
			name string
			opts sdk.StreamableHTTPOptions
		}{
			{"sse", sdk.StreamableHTTPOptions{}},
			{"json", sdk.StreamableHTTPOptions{JSONResponse: true}},
			{"stateless-json", sdk.StreamableHTTPOptions{Stateless: true, JSONResponse: true}},
		} {
			b.Run(backend+"/"+v.name, func(b *testing.B) {
				a, err := teststack.New(context.Background(), teststack.Bare(gormtest.Open(b, backend), []string{resource}, nil))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(a.Close)
				tok, err := a.Tokens(teststack.DefaultSubject, "", resource)
				if err != nil {
					b.Fatal(err)
				}
				server := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1"}, nil)
				protect, err := gosdk.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: resource}, gosdk.WithSessions(teststack.SessionOptions(nil)))
				if err != nil {
					b.Fatal(err)
				}
				opts := v.opts
				srv := httptest.NewServer(protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, &opts)))
				b.Cleanup(srv.Close)
				teststack.BenchInitialize(b, srv.URL, tok.AccessToken)
			})
		}
	}
}
