package idjag_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestEnterpriseManagedAuthorization_GrantTypeNotRegistered (RFC 6749 §5.2, RFC 7591 §2):
// a client that did not register urn:ietf:params:oauth:grant-type:jwt-bearer in its
// grant_types gets 400 unauthorized_client for a valid ID-JAG naming it, and no token.
func TestEnterpriseManagedAuthorization_GrantTypeNotRegistered(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		web, _, err := e.auth.Provider().CreateClient(t.Context(), provider.ClientSpec{Name: "Web app", Public: true,
			RedirectURIs: []string{"http://127.0.0.1:9/callback"}}) // authorization_code and refresh_token only
		if err != nil {
			t.Fatal(err)
		}
		g := e.grant()
		g.ClientID = web.ID
		assertion, err := e.idp.Issue(g)
		if err != nil {
			t.Fatal(err)
		}
		r := e.post(t, url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {assertion}, "client_id": {web.ID}}, "", "")
		if r.status != http.StatusBadRequest || r.Error != "unauthorized_client" || r.AccessToken != "" {
			t.Fatalf("ID-JAG from a client without the jwt-bearer grant: %d %s; want 400 unauthorized_client", r.status, r.raw)
		}
		// The registered client still gets its token.
		valid, err := e.idp.Issue(e.grant())
		if err != nil {
			t.Fatal(err)
		}
		if ok := e.exchange(t, valid, nil); ok.status != http.StatusOK {
			t.Fatalf("registered client: %d %s", ok.status, ok.raw)
		}
	})
}
