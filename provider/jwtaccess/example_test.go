package jwtaccess_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// Example plugs RFC 9068 JWT access tokens into a provider: a KeyManager on the same
// store, its AccessTokenStrategy, jwks_uri in the metadata, the JWKS handler on the mux,
// and a Verifier for the resource server (give it to resourceserver.NewBearer, or use a
// RemoteKeySet on the jwks_uri in another process).
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := gormstore.OpenSQLite(":memory:", gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}}, // 32 random bytes in real life
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// Signing keys live in the store, encrypted; the first one is created here.
	keys, err := jwtaccess.NewKeyManager(ctx, jwtaccess.KeyManagerConfig{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	go keys.Run(ctx) // picks up rotations, rotates, deletes expired keys

	const issuer = "https://example.com/oauth"
	p, err := provider.New(provider.Config{
		Issuer:                  issuer,
		Storage:                 store,
		GlobalSecret:            []byte("a global secret of at least 32 bytes!"),
		Scopes:                  []string{"tools:call"},
		Resources:               []string{"https://example.com/mcp"},
		DefaultResource:         "https://example.com/mcp",
		EnableClientCredentials: true,
		LoginURL:                "https://example.com/login", // your login and consent page
		// Local verification cannot see revocation: keep JWT access tokens short.
		AccessTokenLifespan: jwtaccess.DefaultAccessTokenLifespan,
		AccessTokenStrategy: keys.AccessTokenStrategy,
		EditMetadata: func(m *provider.AuthorizationServerMetadata) {
			m.JWKSURI = jwtaccess.JWKSURI(issuer)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	if err := keys.Register(mux, issuer); err != nil { // GET /oauth/jwks.json
		log.Fatal(err)
	}

	// The resource server side: no database round trip per request.
	verifier, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: issuer, Keys: keys})
	if err != nil {
		log.Fatal(err)
	}

	// Try it: a client credentials token, verified locally.
	client, secret, err := p.CreateClient(ctx, provider.ClientSpec{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"tools:call"}})
	if err != nil {
		log.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"tools:call"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, secret)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil {
		log.Fatal(err)
	}
	at, err := verifier.VerifyAccessToken(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(at.ClientID, at.Scopes, at.Audience)
	fmt.Println("jwks_uri:", p.Metadata().JWKSURI)
	// Output:
	// svc [tools:call] [https://example.com/mcp]
	// jwks_uri: https://example.com/oauth/jwks.json
}
