package gosdk_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log"
	"net/http"

	sdkmcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// The README's ten lines: mcp.New (an authorization server with dynamic client
// registration) in front of a go-sdk MCP server, on SQLite.
func ExampleProtect() {
	ctx := context.Background()
	key, secret := make([]byte, 32), make([]byte, 32) // keep both stable across restarts
	_, _ = rand.Read(key)
	_, _ = rand.Read(secret)
	users := provider.AuthenticatorFunc(func(ctx context.Context, username, password string) (string, error) {
		if username == "alice" && password == "wonderland" { // check your user directory here
			return "alice", nil
		}
		return "", errors.New("unknown user or wrong password")
	})
	server := sdkmcp.NewServer(&sdkmcp.Implementation{Name: "files"}, nil)
	getServer := func(*http.Request) *sdkmcp.Server { return server }

	store, err := gormstore.OpenSQLite("auth.db", gormstore.Options{EncryptionKeys: []gormstore.Key{{ID: "k1", Secret: key}}})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	auth, err := mcp.New(context.Background(), mcp.Config{
		Provider:  provider.Config{Issuer: "https://example.com", Storage: store, GlobalSecret: secret, Authenticator: users},
		Resources: []resourceserver.Resource{{URL: "https://example.com/mcp", Name: "Files", Scopes: []string{"files:read", "files:write"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	auth.Register(mux)
	protect, err := gosdk.Protect(auth, resourceserver.BearerOptions{Resource: "https://example.com/mcp"})
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("/mcp", protect(sdkmcp.NewStreamableHTTPHandler(getServer, nil)))
	log.Fatal(http.ListenAndServe(":8080", mux))
}
