package mcpgo_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgosdk "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/mcpgo"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// An mcp-go server guarded by RequireBearer: the protected resource metadata is served
// beside it by resourceserver.NewMetadataHandler (open to all; the well-known route never reaches the
// MCP handler), a request without a token gets the MCP challenge, and a tool reads the
// caller's identity from its context.
func ExampleRequireBearer() {
	res := resourceserver.Resource{URL: "https://mcp.example.com/mcp", Name: "Files", Scopes: []string{"files:read"}}
	as, stop := startAuthorizationServer(res.URL) // an authorization server on loopback (internal/teststack)
	defer stop()

	s := server.NewMCPServer("files", "1.0.0")
	s.AddTool(mcpgosdk.NewTool("whoami"), func(ctx context.Context, _ mcpgosdk.CallToolRequest) (*mcpgosdk.CallToolResult, error) {
		at, _ := mcpgo.AccessToken(ctx)
		return mcpgosdk.NewToolResultText(at.Subject), nil
	})
	handler := server.NewStreamableHTTPServer(s)
	protect, err := mcpgo.RequireBearer(as.Provider, resourceserver.BearerOptions{Resource: res.URL, Scopes: []string{"files:read"}})
	if err != nil {
		log.Fatal(err)
	}
	resources, err := resourceserver.NewRegistry(res)
	if err != nil {
		log.Fatal(err)
	}
	metadata, err := resourceserver.NewMetadataHandler(as.Issuer, resources, nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", protect(handler))
	mux.Handle(resourceserver.WellKnownPath+"/", metadata)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + resourceserver.WellKnownPath + "/mcp")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, len(body) > 0)

	resp, err = http.Post(srv.URL+"/mcp", "application/json", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))

	tok, err := as.Tokens("alice", "files:read", res.URL)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	c, err := client.NewStreamableHttpClient(srv.URL+"/mcp",
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + tok.AccessToken}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	init := mcpgosdk.InitializeRequest{}
	init.Params.ProtocolVersion = mcpgosdk.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgosdk.Implementation{Name: "client", Version: "1.0.0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		log.Fatal(err)
	}
	call := mcpgosdk.CallToolRequest{}
	call.Params.Name = "whoami"
	out, err := c.CallTool(ctx, call)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("whoami:", out.Content[0].(mcpgosdk.TextContent).Text)
	// Output:
	// 200 true
	// 401 Bearer scope="files:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	// whoami: alice
}

// startAuthorizationServer runs a test authorization server on a throwaway SQLite store.
func startAuthorizationServer(resources ...string) (*teststack.Stack, func()) {
	dir, err := os.MkdirTemp("", "mcpgo-example")
	if err != nil {
		log.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	store, err := gormstore.OpenSQLite(filepath.Join(dir, "oauth.db"), gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: "k", Secret: key}},
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(context.Background()); err != nil {
		log.Fatal(err)
	}
	as, err := teststack.New(context.Background(), teststack.Bare(store, resources, nil))
	if err != nil {
		log.Fatal(err)
	}
	return as, func() {
		as.Close()
		_ = store.Close()
		_ = os.RemoveAll(dir)
	}
}
