package gormstore_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 7591 §2 jwks_uri (migration 7): a private_key_jwt client's key URL survives create,
// the hot-path read, update and the client cache on both databases; clearing it clears it.
func TestClientStore_JWKSURI_RFC7591(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		want := &provider.Client{
			ID: "pkjwt-uri", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT,
			JWKSURI: "https://client.example/jwks.json", TokenEndpointAuthSigningAlg: "ES256",
			GrantTypes: []string{"client_credentials"}, Source: provider.ClientSourceStatic,
		}
		if err := s.CreateClient(c, want); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // the second read may come from the client cache
			fc, err := s.GetClient(c, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := fc.(*provider.Client)
			if got.JWKSURI != want.JWKSURI || got.JWKS != nil || got.GetJSONWebKeysURI() != want.JWKSURI {
				t.Fatalf("read %d: JWKSURI %q, JWKS %v", i, got.JWKSURI, got.JWKS)
			}
		}
		upd := want.Clone()
		upd.JWKSURI = "https://client.example/rotated/jwks.json"
		if err := s.UpdateClient(c, upd); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadClient(c, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(upd.JWKSURI, got.JWKSURI); d != "" {
			t.Errorf("after UpdateClient (-want +got):\n%s", d)
		}
		v, err := s.SchemaVersion(c)
		if err != nil || v < 8 {
			t.Fatalf("SchemaVersion = %d, %v; want ≥ 8", v, err)
		}
	})
}
