package mcp_test

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
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// The split deployment: the authorization server (mcp.New) runs in one process at
// https://auth.example.com, the MCP server in another at https://mcp.example.com. The MCP
// server imports only mcp/resourceserver, provider/jwtaccess and an SDK adapter: no
// provider, fosite compose, storage or registration.
func Example_splitDeployment() {
	const issuer, resource = "https://auth.example.com", "https://mcp.example.com/mcp"
	ctx := context.Background()

	// Process 1, the authorization server: tokens for the MCP server's URL, signed as
	// RFC 9068 JWTs whose keys it publishes at jwks_uri.
	authorizationServer := func() error {
		key, secret := make([]byte, 32), make([]byte, 32) // keep both stable across restarts
		_, _ = rand.Read(key)
		_, _ = rand.Read(secret)
		store, err := gormstore.OpenSQLite("auth.db", gormstore.Options{EncryptionKeys: []gormstore.Key{{ID: "k1", Secret: key}}})
		if err != nil {
			return err
		}
		if err := store.Migrate(ctx); err != nil {
			return err
		}
		users := provider.AuthenticatorFunc(func(context.Context, string, string) (string, error) {
			return "", errors.New("check your user directory here")
		})
		auth, err := mcp.New(ctx, mcp.Config{
			Provider:        provider.Config{Issuer: issuer, Storage: store, GlobalSecret: secret, Authenticator: users},
			Resources:       []resourceserver.Resource{{URL: resource, Name: "Files", Scopes: []string{"files:read"}}},
			JWTAccessTokens: &mcp.JWTAccessTokens{Enabled: true},
		})
		if err != nil {
			return err
		}
		go func() { _ = auth.Run(ctx) }() // purges, prunes, rotates the signing keys
		return http.ListenAndServe(":8443", auth.Handler())
	}

	// Process 2, the MCP server: it verifies JWTs with the keys from jwks_uri (for
	// opaque tokens, use resourceserver.NewIntrospectionVerifier with a static confidential
	// client of the authorization server instead) and serves its own RFC 9728 metadata.
	mcpServer := func() error {
		keys, err := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: jwtaccess.JWKSURI(issuer)})
		if err != nil {
			return err
		}
		verifier, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: issuer, Keys: keys})
		if err != nil {
			return err
		}
		registry, err := resourceserver.NewRegistry(resourceserver.Resource{URL: resource, Name: "Files", Scopes: []string{"files:read"}})
		if err != nil {
			return err
		}
		metadata, err := resourceserver.NewMetadataHandler(issuer, registry, nil)
		if err != nil {
			return err
		}
		protect, err := gosdk.RequireBearer(verifier, resourceserver.BearerOptions{Resource: resource, ChallengeScopes: []string{"files:read"}})
		if err != nil {
			return err
		}
		server := sdkmcp.NewServer(&sdkmcp.Implementation{Name: "files"}, nil)
		mux := http.NewServeMux()
		mux.Handle(resourceserver.WellKnownPath, metadata)
		mux.Handle(resourceserver.WellKnownPath+"/", metadata)
		mux.Handle("/mcp", protect(sdkmcp.NewStreamableHTTPHandler(func(*http.Request) *sdkmcp.Server { return server }, nil)))
		return http.ListenAndServe(":8080", mux)
	}

	// Each is a program of its own; here they run side by side.
	for _, run := range []func() error{authorizationServer, mcpServer} {
		go func() { log.Fatal(run()) }()
	}
	select {}
}
