package registration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 7591 §2 jwks_uri with RFC 7523 §2.2: a client registers private_key_jwt with its
// keys by reference; the registration echoes jwks_uri and issues no secret, the token
// endpoint fetches the set (through the SSRF guard, loopback admitted by the test hook)
// and accepts an assertion signed by the published key, and refuses another key.
func TestRegister_RFC7523_PrivateKeyJWTByJWKSURI(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	defer jwks.Close()
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const resource = "https://mcp.example.com/mcp"
		a := teststack.Start(t, teststack.Bare(s, []string{resource}, func(cfg *provider.Config) {
			ks, err := jwtaccess.NewRemoteKeySets(jwtaccess.RemoteKeySetsConfig{AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() }})
			if err != nil {
				t.Fatal(err)
			}
			cfg.ClientKeys = ks
		}))
		aud := a.Issuer + provider.TokenPath
		uri := jwks.URL + "/jwks.json"
		body := `{"client_name":"signer by reference","redirect_uris":["http://localhost/callback"],` +
			`"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"` + uri + `"}`

		// Without the option (a provider that does not fetch keys) jwks_uri is refused.
		off := newEnv(t, s, registration.Options{})
		if r := off.register(body); r.status != http.StatusBadRequest || r.err.ErrorCode != provider.ErrorCodeInvalidClientMetadata {
			t.Fatalf("jwks_uri without Options.JWKSURI: %d %s", r.status, r.raw)
		}

		e := newEnv(t, s, registration.Options{JWKSURI: true, DefaultGrantTypes: []string{"authorization_code", "refresh_token"}})
		in := e.mustRegister(body)
		if in.ClientSecret != "" || in.JWKSURI != uri || in.JWKS != nil || in.TokenEndpointAuthMethod != provider.AuthMethodPrivateKeyJWT {
			t.Fatalf("registration response %+v", in)
		}
		if r := e.register(strings.Replace(body, `"jwks_uri":"`+uri+`"`, `"jwks_uri":"ftp://client.example/jwks"`, 1)); r.status != http.StatusBadRequest {
			t.Fatalf("a non-https jwks_uri: %d %s", r.status, r.raw)
		}
		client := func(k *ecdsa.PrivateKey) teststack.Client {
			assertion, err := teststack.ClientAssertion(k, jose.ES256, "k1", in.ClientID, aud)
			if err != nil {
				t.Fatal(err)
			}
			return teststack.Client{ID: in.ClientID, AuthMethod: provider.AuthMethodPrivateKeyJWT, Assertion: assertion,
				RedirectURI: "http://localhost:49152/callback"}
		}
		before := fetches.Load()
		tok, err := a.TokensFor(client(key), "files:read", resource)
		if err != nil {
			t.Fatal(err)
		}
		if at, err := a.Provider.VerifyAccessToken(t.Context(), tok.AccessToken); err != nil || at.ClientID != in.ClientID {
			t.Fatalf("token %+v: %v", at, err)
		}
		if fetches.Load() == before {
			t.Error("the key set at jwks_uri was never fetched")
		}
		if _, err := a.TokensFor(client(other), "files:read", resource); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("another key under kid k1: %v, want invalid_client", err)
		}
		// RFC 7592 §2.1: the read echoes jwks_uri.
		if r := e.do(http.MethodGet, in.RegistrationClientURI, "", bearer(in.RegistrationAccessToken)); r.status != http.StatusOK || r.info.JWKSURI != uri {
			t.Fatalf("read: %d %s", r.status, r.raw)
		}
	})
}
