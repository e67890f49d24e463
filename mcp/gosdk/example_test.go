package gosdk_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// A go-sdk MCP server guarded by RequireBearer: a request without a token gets the MCP
// challenge, and a tool handler reads the caller's identity from req.Extra.TokenInfo.
func ExampleRequireBearer() {
	const resource = "https://mcp.example.com/mcp"
	as, stop := startAuthorizationServer(resource) // a provider.Provider; see teststack
	defer stop()

	server := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1.0.0"}, nil)
	sdk.AddTool(server, &sdk.Tool{Name: "whoami", Description: "Who is calling"},
		func(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			at, _ := gosdk.AccessToken(req.Extra.TokenInfo)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: at.Subject}}}, nil, nil
		})
	protect, err := gosdk.RequireBearer(as.Provider, resourceserver.BearerOptions{Resource: resource, Scopes: []string{"files:read"}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// No token: 401 with the challenge that starts MCP authorization.
	resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))

	// With a token for this resource, through the go-sdk client.
	tok, err := as.Tokens("alice", "files:read", resource)
	if err != nil {
		log.Fatal(err)
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "client", Version: "1.0.0"}, nil)
	session, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{
		Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearerTransport(tok.AccessToken)},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(context.Background(), &sdk.CallToolParams{Name: "whoami"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("whoami:", res.Content[0].(*sdk.TextContent).Text)
	// Output:
	// 401 Bearer scope="files:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	// whoami: alice
}

// bearerTransport adds an Authorization header to every request.
type bearerTransport string

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(t))
	return http.DefaultTransport.RoundTrip(r)
}

// startAuthorizationServer runs a test authorization server on a throwaway SQLite store.
func startAuthorizationServer(resources ...string) (*teststack.Stack, func()) {
	dir, err := os.MkdirTemp("", "gosdk-example")
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
