package gosdk_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 6750 §3 / MCP authorization: nothing reaches the go-sdk handler without a verified
// token, whatever the path (the StreamableHTTPHandler, like mcp-go's server, ignores it)
// or method. A CORS preflight is answered by the middleware itself with 204 (before, it
// passed through resourceserver.Bearer to go-sdk's auth.RequireBearerToken, which refused it with
// 401 and broke browser clients), and a tools/call never runs.
func TestRequireBearer_NoRequestReachesGoSDKWithoutToken(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		a := newAS(t, s, resource)
		server := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1"}, nil)
		var ran atomic.Int64
		sdk.AddTool(server, &sdk.Tool{Name: "purge"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			ran.Add(1)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "purged"}}}, nil, nil
		})
		protect, err := gosdk.Protect(mustServer(t, s), resourceserver.BearerOptions{Resource: resource})
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range map[string]func(http.Handler) http.Handler{"RequireBearer": mustRequireBearer(t, a.Provider), "Protect": protect} {
			var reached atomic.Int64
			sdkHandler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)
			srv := httptest.NewServer(p(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached.Add(1)
				sdkHandler.ServeHTTP(w, r)
			})))
			metaPath, _ := resourceserver.MetadataPath(resource)
			for _, path := range []string{"/mcp", metaPath, resourceserver.WellKnownPath, resourceserver.WellKnownPath + "/x"} {
				resp := post(t, srv.URL+path, "", nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
				if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Mcp-Session-Id") != "" {
					t.Errorf("%s: POST %s without token: %d", name, path, resp.StatusCode)
				}
				resp = post(t, srv.URL+path, "", nil, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"purge","arguments":{}}}`)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: tools/call at %s without token: %d", name, path, resp.StatusCode)
				}
				for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodOptions} {
					req, _ := http.NewRequest(method, srv.URL+path, nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("%s: %s %s without token: %d", name, method, path, resp.StatusCode)
					}
				}
				req, _ := http.NewRequest(http.MethodOptions, srv.URL+path, nil)
				req.Header.Set("Origin", "https://inspector.example")
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-session-id")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("%s: preflight at %s: %d %v", name, path, resp.StatusCode, resp.Header)
				}
			}
			srv.Close()
			if reached.Load() != 0 || ran.Load() != 0 {
				t.Errorf("%s: unauthenticated requests reached the go-sdk handler %d times, purge ran %d times", name, reached.Load(), ran.Load())
			}
		}
	})
}

func mustRequireBearer(t *testing.T, v resourceserver.AccessTokenVerifier) func(http.Handler) http.Handler {
	t.Helper()
	p, err := gosdk.RequireBearer(v, resourceserver.BearerOptions{Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustServer is an mcp.Server for resource on s.
func mustServer(t *testing.T, s *gormstore.Store) *mcp.Server {
	t.Helper()
	srv, err := mcp.New(t.Context(), mcp.Config{
		Provider: provider.Config{
			Issuer: "https://as.example.com", Storage: s, GlobalSecret: []byte("gosdk-passthrough-secret-0123456789ab"),
			AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "alice", true },
			Logger:      slog.New(slog.DiscardHandler),
		},
		Resources: []resourceserver.Resource{{URL: resource, Name: "Files", Scopes: []string{"files:read"}}},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
