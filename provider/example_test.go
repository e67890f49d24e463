package provider_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// Example mounts an authorization server under /oauth with the built-in login page and
// one pre-registered public client.
func Example() {
	ctx := context.Background()
	store, err := gormstore.OpenSQLite("auth.db", gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: "k1", Secret: []byte(os.Getenv("DB_KEY"))}}, // 32 random bytes
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	p, err := provider.New(provider.Config{
		Issuer:       "https://example.com/oauth",
		Storage:      store,
		GlobalSecret: []byte(os.Getenv("TOKEN_SECRET")), // ≥ 32 random bytes
		Scopes:       []string{"tools:read", "tools:call"},
		Resources:    []string{"https://example.com/mcp"},
		Authenticator: provider.AuthenticatorFunc(func(ctx context.Context, user, password string) (string, error) {
			return "", errors.New("plug your user database in here")
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, _, err := p.CreateClient(ctx, provider.ClientSpec{
		ID: "my-cli", Name: "My CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"},
	}); err != nil && !errors.Is(err, provider.ErrClientExists) {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux) // /oauth/authorize, /oauth/token, …, /.well-known/oauth-authorization-server/oauth
	log.Fatal(http.ListenAndServe(":8080", mux))
}
