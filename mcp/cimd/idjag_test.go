package cimd_test

import (
	"slices"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestDocument_JWTBearerGrant: MCP Enterprise-Managed Authorization §5: a client that
// is not pre-registered uses its client ID metadata document; a document listing the
// jwt-bearer grant beside authorization_code is valid.
func TestDocument_JWTBearerGrant(t *testing.T) {
	const id = "https://client.example/client.json"
	body := `{"client_id":"` + id + `","client_name":"Agent","redirect_uris":["http://127.0.0.1/cb"],` +
		`"grant_types":["authorization_code","` + provider.GrantTypeJWTBearer + `"]}`
	c, err := cimd.ParseDocument(id, []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.GrantTypes, provider.GrantTypeJWTBearer) {
		t.Errorf("grant types %v", c.GrantTypes)
	}
}
