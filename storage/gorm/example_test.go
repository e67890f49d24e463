package gormstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// Open a SQLite store, migrate it, and register a client. In production, load the encryption
// key from a secret store: losing it makes every stored grant unreadable.
func ExampleOpenSQLite() {
	dir, err := os.MkdirTemp("", "gormstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	store, err := gormstore.OpenSQLite(filepath.Join(dir, "oauth.db"), gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: "2025-01", Secret: key}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	err = store.CreateClient(ctx, &provider.Client{
		ID:                      "my-app",
		Public:                  true,
		TokenEndpointAuthMethod: provider.AuthMethodNone,
		RedirectURIs:            []string{"http://127.0.0.1/callback"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
	})
	fmt.Println(err)
	// Output: <nil>
}
