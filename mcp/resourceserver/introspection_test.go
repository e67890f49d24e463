package resourceserver_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 7662 §2.1: the endpoint must be protected (https, or http on loopback), and the
// resource server authenticates; a configuration without either is refused at start-up.
func TestNewIntrospectionVerifier_RFC7662_2_1_Config(t *testing.T) {
	for name, cfg := range map[string]resourceserver.IntrospectionConfig{
		"http on a public host": {Endpoint: "http://as.example/introspect", ClientID: "rs", ClientSecret: "s"},
		"http on 127.attacker":  {Endpoint: "http://127.attacker.example/introspect", ClientID: "rs", ClientSecret: "s"},
		"relative":              {Endpoint: "/introspect", ClientID: "rs", ClientSecret: "s"},
		"no client credentials": {Endpoint: "https://as.example/introspect"},
		"no client secret":      {Endpoint: "https://as.example/introspect", ClientID: "rs"},
	} {
		if _, err := resourceserver.NewIntrospectionVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := resourceserver.NewIntrospectionVerifier(resourceserver.IntrospectionConfig{Endpoint: "http://127.0.0.1:1/introspect", ClientID: "rs", ClientSecret: "s"}); err != nil {
		t.Errorf("loopback http: %v", err)
	}
}

// The errors the bearer middleware maps: an unreachable endpoint or a 503 is
// ErrStorageUnavailable (503, clients retry, nobody is logged out); wrong resource-server
// credentials are a plain error (500 and an Error log line: a configuration mistake),
// never ErrInvalidToken (which would send every client through a new login).
func TestIntrospectionVerifier_RFC7662_2_ErrorsByCause(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		a := newAS(t, s, []string{"https://mcp.example/mcp"}, nil)
		tok := a.tokens("files:read", "https://mcp.example/mcp")
		good := newIntrospectionVerifier(a)
		if got, err := good.VerifyAccessToken(t.Context(), tok.AccessToken); err != nil || got.Subject != "alice" {
			t.Fatalf("valid token: %+v, %v", got, err)
		}
		if _, err := good.VerifyAccessToken(t.Context(), tok.RefreshToken); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("refresh token: %v, want ErrInvalidToken", err)
		}

		wrong, _ := resourceserver.NewIntrospectionVerifier(resourceserver.IntrospectionConfig{
			Endpoint: a.Issuer + provider.IntrospectionPath, ClientID: "nobody", ClientSecret: "wrong-secret"})
		if _, err := wrong.VerifyAccessToken(t.Context(), tok.AccessToken); err == nil ||
			errors.Is(err, oauth.ErrInvalidToken) || errors.Is(err, oauth.ErrStorageUnavailable) {
			t.Errorf("wrong credentials: %v, want a plain error", err)
		}

		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer down.Close()
		for name, endpoint := range map[string]string{"503": down.URL, "closed port": "http://127.0.0.1:1/introspect"} {
			v, _ := resourceserver.NewIntrospectionVerifier(resourceserver.IntrospectionConfig{Endpoint: endpoint, ClientID: "rs", ClientSecret: "s"})
			if _, err := v.VerifyAccessToken(t.Context(), tok.AccessToken); !errors.Is(err, oauth.ErrStorageUnavailable) {
				t.Errorf("%s: %v, want ErrStorageUnavailable", name, err)
			}
		}

		c, secret, err := a.Provider.CreateClient(t.Context(), provider.ClientSpec{Name: "rs2", RedirectURIs: []string{"https://rs.example/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		misrouted, _ := resourceserver.NewIntrospectionVerifier(resourceserver.IntrospectionConfig{
			Endpoint: a.Issuer + provider.IntrospectionPath, ClientID: c.ID, ClientSecret: secret, Issuer: "https://other.example"})
		if _, err := misrouted.VerifyAccessToken(t.Context(), tok.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("another issuer: %v, want ErrInvalidToken", err)
		}
	})
}
