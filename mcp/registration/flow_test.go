package registration_test

import (
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Clients registered here work with the real authorization server on the same store:
// public (none), client_secret_basic and client_secret_post, a loopback redirect URI
// registered without port and used with one, and the registered default scopes.
func TestRegisteredClients_AuthorizationCodeFlow(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const resource = "https://mcp.example.com/mcp"
		a := teststack.Start(t, teststack.Bare(s, []string{resource}, nil))
		e := newEnv(t, s, registration.Options{DefaultGrantTypes: []string{"authorization_code", "refresh_token"}})
		for _, method := range []string{provider.AuthMethodNone, provider.AuthMethodClientSecretBasic, provider.AuthMethodClientSecretPost} {
			t.Run(method, func(t *testing.T) {
				in := e.mustRegister(`{"client_name":"flow","redirect_uris":["http://localhost/callback"],"token_endpoint_auth_method":"` + method + `"}`)
				tok, err := a.TokensFor(teststack.Client{ID: in.ClientID, Secret: in.ClientSecret, AuthMethod: method,
					RedirectURI: "http://localhost:49152/callback"}, "files:read", resource)
				if err != nil {
					t.Fatal(err)
				}
				at, err := a.Provider.VerifyAccessToken(t.Context(), tok.AccessToken)
				if err != nil || at.ClientID != in.ClientID || len(at.Audience) != 1 || at.Audience[0] != resource || tok.RefreshToken == "" {
					t.Errorf("token %+v for %+v: %v", at, tok, err)
				}
				if method != provider.AuthMethodNone {
					// The wrong secret is refused.
					if _, err := a.TokensFor(teststack.Client{ID: in.ClientID, Secret: "wrong", AuthMethod: method,
						RedirectURI: "http://localhost:49152/callback"}, "files:read", resource); err == nil {
						t.Error("wrong client secret accepted")
					}
				}
			})
		}
	})
}
