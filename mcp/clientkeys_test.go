package mcp_test

import (
	"context"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 7591 jwks_uri: mcp.New supplies the provider's source of keys published at a
// jwks_uri by default (the SSRF-guarded jwtaccess.RemoteKeySets), so an operator can
// create such a static client with no extra configuration; a Provider.ClientKeys set by
// the caller works as well, and invalid ClientKeySets values are refused.
func TestNew_ClientKeySets_JWKSURIClients(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		spec := func(id string) provider.ClientSpec {
			return provider.ClientSpec{
				ID: id, GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT,
				JWKSURI: "https://client.example/jwks.json",
			}
		}
		cc := func(c *mcp.Config) { c.Provider.EnableClientCredentials = true }
		_, _, auth := newServer(t, store, cc)
		c, _, err := auth.Provider().CreateClient(context.Background(), spec("m2m-1"))
		if err != nil || c.JWKSURI != "https://client.example/jwks.json" {
			t.Fatalf("CreateClient with a jwks_uri under mcp.New's defaults: %+v, %v", c, err)
		}

		own, err := jwtaccess.NewRemoteKeySets(jwtaccess.RemoteKeySetsConfig{})
		if err != nil {
			t.Fatal(err)
		}
		_, _, auth = newServer(t, store, cc, func(c *mcp.Config) { c.Provider.ClientKeys = own })
		if _, _, err := auth.Provider().CreateClient(context.Background(), spec("m2m-2")); err != nil {
			t.Fatalf("with the caller's ClientKeys: %v", err)
		}

		cfg := mcp.Config{
			Provider:      provider.Config{Issuer: "http://127.0.0.1:1", Storage: store, GlobalSecret: []byte("server-test-global-secret-0123456789")},
			Resources:     []resourceserver.Resource{{URL: "http://127.0.0.1:1/mcp"}},
			ClientKeySets: &jwtaccess.RemoteKeySetsConfig{MaxSets: -1},
		}
		if _, err := mcp.New(context.Background(), cfg); err == nil {
			t.Error("mcp.New accepted a negative ClientKeySets.MaxSets")
		}
	})
}
