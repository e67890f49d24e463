package mcpgo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/mcpgo"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

const (
	initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	purgeBody      = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"purge"}}`
)

// shortClient bounds every request: a GET that mcp-go took for an MCP stream would hang.
var shortClient = &http.Client{Timeout: 10 * time.Second}

// mcpPost sends an MCP JSON-RPC message to url without a token.
func mcpPost(t *testing.T, method, url, sid, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := shortClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// RFC 6750 §3 / MCP authorization: every request to the protected resource needs a valid
// token. mcp-go's StreamableHTTPServer ignores the request path, so a request under the
// RFC 9728 well-known prefix that the middleware let through unauthenticated was an MCP
// message: initialize and an unauthenticated tools/call. Nothing reaches the handler
// without a token now, whatever the path or method; the metadata itself is served by the
// middleware (WithMetadata), never by mcp-go.
func TestRequireBearer_WellKnownPathDoesNotBypassToken(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		srv := httptest.NewUnstartedServer(nil)
		base := "http://" + srv.Listener.Addr().String()
		res := resourceserver.Resource{URL: base + "/mcp", Name: "Files", Scopes: []string{"files:read", "admin"}}
		a := teststack.Start(t, teststack.Bare(s, []string{res.URL}, nil))
		var purged, reached atomic.Int64
		// mcp-go is configured to serve the metadata too, as the old documentation said:
		// the middleware must still never hand it an unauthenticated request.
		h := server.NewStreamableHTTPServer(filesServer(&purged),
			server.WithProtectedResourceMetadata(mcpgo.ProtectedResourceMetadata(res, a.Issuer)))
		counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			h.ServeHTTP(w, r)
		})
		protect, err := mcpgo.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: res.URL, Scopes: []string{"files:read"}},
			mcpgo.WithMetadata(res, a.Issuer))
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = protect(counted)
		srv.Start()
		defer srv.Close()

		metaPath, _ := resourceserver.MetadataPath(res.URL)
		for _, p := range []string{
			resourceserver.WellKnownPath + "/anything", metaPath, resourceserver.WellKnownPath, resourceserver.WellKnownPath + "/",
			metaPath + "/", "/.well-known/oauth-protected-resourcex", "/mcp",
		} {
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
				resp, body := mcpPost(t, method, base+p, "", initializeBody)
				sid := resp.Header.Get("Mcp-Session-Id")
				if sid != "" || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusMethodNotAllowed) {
					t.Errorf("%s %s without token: %d session %q %s", method, p, resp.StatusCode, sid, body)
				}
				resp, body = mcpPost(t, method, base+p, sid, purgeBody)
				if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("%s %s tools/call without token: %d %s", method, p, resp.StatusCode, body)
				}
			}
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				req, _ := http.NewRequest(method, base+p, nil)
				resp, err := shortClient.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, p, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				want := http.StatusUnauthorized
				if p == metaPath {
					want = http.StatusOK
				}
				if resp.StatusCode != want {
					t.Errorf("%s %s without token: %d, want %d", method, p, resp.StatusCode, want)
				}
			}
		}
		if purged.Load() != 0 || reached.Load() != 0 {
			t.Fatalf("unauthenticated requests reached the mcp-go handler %d times; purge ran %d times", reached.Load(), purged.Load())
		}

		// The document comes from resourceserver.NewMetadataHandler (cacheable), not from mcp-go
		// (no-store), and is the resource's.
		resp, err := http.Get(base + metaPath)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != resourceserver.DefaultMetadataCacheControl ||
			!strings.Contains(string(b), `"resource":"`+res.URL+`"`) {
			t.Errorf("metadata: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), b)
		}

		// With a token the handler is reached as before.
		tok, err := a.Tokens("alice", "files:read", res.URL)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, res.URL, strings.NewReader(initializeBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || reached.Load() != 1 {
			t.Errorf("initialize with token: %d, reached %d", resp.StatusCode, reached.Load())
		}
	})
}

// Without WithMetadata nothing at all is answered without a token, the well-known paths
// included (the metadata is then mounted beside the handler).
func TestRequireBearer_WithoutMetadataEverythingNeedsToken(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	res := resourceserver.Resource{URL: base + "/mcp", Name: "Files"}
	a := teststack.Start(t, teststack.Bare(s, []string{res.URL}, nil))
	var purged, reached atomic.Int64
	h := server.NewStreamableHTTPServer(filesServer(&purged),
		server.WithProtectedResourceMetadata(mcpgo.ProtectedResourceMetadata(res, a.Issuer)))
	protect, err := mcpgo.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: res.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		h.ServeHTTP(w, r)
	}))
	srv.Start()
	defer srv.Close()
	metaPath, _ := resourceserver.MetadataPath(res.URL)
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		resp, _ := mcpPost(t, method, base+metaPath, "", initializeBody)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s: %d", method, metaPath, resp.StatusCode)
		}
	}
	if reached.Load() != 0 {
		t.Errorf("handler reached %d times without a token", reached.Load())
	}
}
