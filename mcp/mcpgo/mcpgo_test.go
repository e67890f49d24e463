package mcpgo_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgosdk "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/mcpgo"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// filesServer is an mcp-go server with whoami (identity from the context) and purge
// (needs admin); purged counts purge runs.
func filesServer(purged *atomic.Int64) *server.MCPServer {
	s := server.NewMCPServer("files", "1.0.0")
	s.AddTool(mcpgosdk.NewTool("whoami"), func(ctx context.Context, _ mcpgosdk.CallToolRequest) (*mcpgosdk.CallToolResult, error) {
		at, ok := mcpgo.AccessToken(ctx)
		if !ok {
			return mcpgosdk.NewToolResultError("no access token in context"), nil
		}
		b, _ := json.Marshal(at)
		return mcpgosdk.NewToolResultText(string(b)), nil
	})
	s.AddTool(mcpgosdk.NewTool("purge"), func(context.Context, mcpgosdk.CallToolRequest) (*mcpgosdk.CallToolResult, error) {
		purged.Add(1)
		return mcpgosdk.NewToolResultText("purged"), nil
	})
	return s
}

func connect(t *testing.T, c *client.Client) error {
	t.Helper()
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		return err
	}
	init := mcpgosdk.InitializeRequest{}
	init.Params.ProtocolVersion = mcpgosdk.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgosdk.Implementation{Name: "test", Version: "1"}
	_, err := c.Initialize(ctx, init)
	return err
}

func whoami(t *testing.T, c *client.Client) map[string]any {
	t.Helper()
	call := mcpgosdk.CallToolRequest{}
	call.Params.Name = "whoami"
	out, err := c.CallTool(context.Background(), call)
	if err != nil || out.IsError {
		t.Fatalf("whoami: %+v, %v", out, err)
	}
	var id map[string]any
	if err := json.Unmarshal([]byte(out.Content[0].(mcpgosdk.TextContent).Text), &id); err != nil {
		t.Fatal(err)
	}
	return id
}

// The streamable HTTP transport: identity in the tool context, step-up for a tool that
// needs more scope, wrong-audience tokens refused, metadata served unauthenticated by the
// middleware.
func TestRequireBearer_MCPGoStreamableHTTP(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		srv := httptest.NewUnstartedServer(nil)
		base := "http://" + srv.Listener.Addr().String()
		res := resourceserver.Resource{URL: base + "/mcp", Name: "Files", Scopes: []string{"files:read", "admin"}}
		a := teststack.Start(t, teststack.Bare(s, []string{res.URL, base + "/other"}, nil))
		var purged atomic.Int64
		h := server.NewStreamableHTTPServer(filesServer(&purged))
		protect, err := mcpgo.RequireBearer(a.Provider, resourceserver.BearerOptions{
			Resource: res.URL, Scopes: []string{"files:read"},
			OperationScopes: resourceserver.ToolScopes(map[string][]string{"purge": {"admin"}}),
		}, mcpgo.WithMetadata(res, a.Issuer))
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = protect(h)
		srv.Start()
		defer srv.Close()

		// RFC 9728 metadata from the middleware (WithMetadata), without a token.
		resp, err := http.Get(base + resourceserver.WellKnownPath + "/mcp")
		if err != nil {
			t.Fatal(err)
		}
		var prm resourceserver.ProtectedResourceMetadata
		_ = json.NewDecoder(resp.Body).Decode(&prm)
		resp.Body.Close()
		if resp.StatusCode != 200 || prm.Resource != res.URL || prm.AuthorizationServers[0] != a.Issuer {
			t.Fatalf("metadata: %d %+v", resp.StatusCode, prm)
		}

		tok, err := a.Tokens("alice", "files:read", res.URL)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.NewStreamableHttpClient(res.URL, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + tok.AccessToken}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := connect(t, c); err != nil {
			t.Fatal(err)
		}
		id := whoami(t, c)
		if id["Subject"] != "alice" || id["ClientID"] != a.ClientID("alice") {
			t.Errorf("identity %v", id)
		}
		call := mcpgosdk.CallToolRequest{}
		call.Params.Name = "purge"
		if _, err := c.CallTool(context.Background(), call); err == nil || purged.Load() != 0 {
			t.Errorf("purge without admin: %v, ran %d", err, purged.Load())
		}
		req, _ := http.NewRequest(http.MethodPost, res.URL, strings.NewReader(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"purge"}}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope", scope="files:read admin"`) {
			t.Errorf("step-up: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}

		other, err := a.Tokens("alice", "files:read", base+"/other")
		if err != nil {
			t.Fatal(err)
		}
		c2, err := client.NewStreamableHttpClient(res.URL, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + other.AccessToken}))
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if err := connect(t, c2); err == nil {
			t.Error("a token for another resource initialized a session")
		}
	})
}

// The SSE transport (2024-11-05): mcp-go handles messages in a context derived from the
// POST request's, so tools see the identity there too.
func TestRequireBearer_MCPGoSSE(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	a := teststack.Start(t, teststack.Bare(s, []string{base + "/sse"}, nil))
	var purged atomic.Int64
	sse := server.NewSSEServer(filesServer(&purged), server.WithBaseURL(base))
	protect, err := mcpgo.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: base + "/sse"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = protect(sse)
	srv.Start()
	defer srv.Close()

	if resp, err := http.Get(base + "/sse"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("SSE stream without token: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	tok, err := a.Tokens("bob", "files", base+"/sse")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewSSEMCPClient(base+"/sse", client.WithHeaders(map[string]string{"Authorization": "Bearer " + tok.AccessToken}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := connect(t, c); err != nil {
		t.Fatal(err)
	}
	if id := whoami(t, c); id["Subject"] != "bob" {
		t.Errorf("identity %v", id)
	}
}

func TestRequireBearer_InvalidOptions(t *testing.T) {
	if _, err := mcpgo.RequireBearer(nil, resourceserver.BearerOptions{Resource: "https://h/mcp"}); err == nil {
		t.Error("nil verifier accepted")
	}
	v := resourceserver.AccessTokenVerifierFunc(func(context.Context, string) (*provider.AccessToken, error) { return nil, provider.ErrInvalidToken })
	if _, err := mcpgo.RequireBearer(v, resourceserver.BearerOptions{Resource: "https://h/mcp"},
		mcpgo.WithMetadata(resourceserver.Resource{URL: "https://h/other"}, "https://as.example")); err == nil {
		t.Error("metadata of another resource accepted")
	}
	if _, err := mcpgo.RequireBearer(v, resourceserver.BearerOptions{Resource: "https://h/mcp"},
		mcpgo.WithMetadata(resourceserver.Resource{URL: "https://h/mcp"}, "not a URL")); err == nil {
		t.Error("relative issuer accepted")
	}
	cfg := mcpgo.ProtectedResourceMetadata(resourceserver.Resource{URL: "https://h/mcp", Scopes: []string{"a", "offline_access"}}, "https://as.example")
	if cfg.Resource != "https://h/mcp" || len(cfg.ScopesSupported) != 1 || cfg.BearerMethodsSupported[0] != "header" {
		t.Errorf("config %+v", cfg)
	}
}
