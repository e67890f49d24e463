package registration_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// jwksJSON is the JWK Set of one key (a private key keeps its private part) under kid "k1".
func jwksJSON(t *testing.T, key any) string {
	return jwkSetJSON(t, jose.JSONWebKey{Key: key, KeyID: "k1"})
}

// jwkSetJSON is the JSON of a JWK Set of keys.
func jwkSetJSON(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// RFC 7591 §2 with RFC 7523 §2.2: a client registers token_endpoint_auth_method
// private_key_jwt with its public keys in jwks, gets no secret, and authenticates at the
// token endpoint with an assertion signed by its key; a wrong key, a wrong alg and a
// secret instead of an assertion are invalid_client, a secret beside an assertion is
// invalid_request (RFC 6749 §5.2, two methods). RFC 7592: the read echoes jwks, an
// update checks the keys again and a new key replaces the old one.
func TestRegister_RFC7523_PrivateKeyJWT(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const resource = "https://mcp.example.com/mcp"
		a := teststack.Start(t, teststack.Bare(s, []string{resource}, nil))
		aud := a.Issuer + provider.TokenPath
		e := newEnv(t, s, registration.Options{DefaultGrantTypes: []string{"authorization_code", "refresh_token"}})
		body := func(extra string) string {
			return `{"client_name":"signer","redirect_uris":["http://localhost/callback"],` +
				`"token_endpoint_auth_method":"private_key_jwt"` + extra + `}`
		}

		// Refusals (RFC 7591 §3.2.2).
		for name, b := range map[string]string{
			"no jwks":                       body(``),
			"private key in jwks":           body(`,"jwks":` + jwksJSON(t, ec)),
			"jwks_uri instead of jwks":      body(`,"jwks_uri":"https://client.example/jwks"`),
			"HS256 signing alg":             body(`,"jwks":` + jwksJSON(t, ec.Public()) + `,"token_endpoint_auth_signing_alg":"HS256"`),
			"alg that does not fit the key": body(`,"jwks":` + jwkSetJSON(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "k", Algorithm: "RS256"})),
			"jwks not a JWK Set":            body(`,"jwks":{"keys":[{"kty":"RSA"}]}`),
			"jwks with client_secret_basic": `{"redirect_uris":["http://localhost/callback"],"jwks":` + jwksJSON(t, ec.Public()) + `}`,
		} {
			t.Run(name, func(t *testing.T) {
				r := e.register(b)
				if r.status != http.StatusBadRequest || r.err.ErrorCode != provider.ErrorCodeInvalidClientMetadata {
					t.Fatalf("%d %s", r.status, r.raw)
				}
			})
		}

		in := e.mustRegister(body(`,"jwks":` + jwksJSON(t, ec.Public()) + `,"token_endpoint_auth_signing_alg":"ES256"`))
		if in.ClientSecret != "" || in.ClientSecretExpiresAt != nil || in.TokenEndpointAuthMethod != provider.AuthMethodPrivateKeyJWT ||
			in.TokenEndpointAuthSigningAlg != "ES256" || in.JWKS == nil || len(in.JWKS.Keys) != 1 || in.JWKS.Keys[0].KeyID != "k1" {
			t.Fatalf("registration response %+v", in)
		}
		client := func(key any, alg jose.SignatureAlgorithm, kid string) teststack.Client {
			assertion, err := teststack.ClientAssertion(key, alg, kid, in.ClientID, aud)
			if err != nil {
				t.Fatal(err)
			}
			return teststack.Client{ID: in.ClientID, AuthMethod: provider.AuthMethodPrivateKeyJWT, Assertion: assertion,
				RedirectURI: "http://localhost:49152/callback"}
		}
		tok, err := a.TokensFor(client(ec, jose.ES256, "k1"), "files:read", resource)
		if err != nil {
			t.Fatal(err)
		}
		at, err := a.Provider.VerifyAccessToken(t.Context(), tok.AccessToken)
		if err != nil || at.ClientID != in.ClientID || tok.RefreshToken == "" {
			t.Fatalf("token %+v for %+v: %v", at, tok, err)
		}

		twoMethods := client(ec, jose.ES256, "k1")
		twoMethods.Secret = "some-secret"
		for name, tc := range map[string]struct {
			c    teststack.Client
			want string
		}{
			"another key under the client's kid":          {client(other, jose.ES256, "k1"), "invalid_client"},
			"EdDSA when the client pinned ES256":          {client(ed, jose.EdDSA, "k1"), "invalid_client"},
			"a secret instead of an assertion":            {teststack.Client{ID: in.ClientID, Secret: "some-secret", AuthMethod: provider.AuthMethodClientSecretPost, RedirectURI: "http://localhost:49152/callback"}, "invalid_client"},
			"a secret beside the assertion (two methods)": {twoMethods, "invalid_request"},
		} {
			t.Run(name, func(t *testing.T) {
				if _, err := a.TokensFor(tc.c, "files:read", resource); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %s", err, tc.want)
				}
			})
		}

		// RFC 7592 §2.1 read echoes the keys.
		r := e.do(http.MethodGet, in.RegistrationClientURI, "", bearer(in.RegistrationAccessToken))
		if r.status != http.StatusOK || r.info.JWKS == nil || len(r.info.JWKS.Keys) != 1 || r.info.TokenEndpointAuthSigningAlg != "ES256" || r.info.ClientSecret != "" {
			t.Fatalf("read: %d %s", r.status, r.raw)
		}
		// RFC 7592 §2.2 update: the keys are checked again; a new key replaces the old.
		id := `,"client_id":"` + in.ClientID + `"`
		if r := e.do(http.MethodPut, in.RegistrationClientURI, body(id+`,"jwks":`+jwksJSON(t, other)), bearer(in.RegistrationAccessToken)); r.status != http.StatusBadRequest || r.err.ErrorCode != provider.ErrorCodeInvalidClientMetadata {
			t.Fatalf("update with a private key: %d %s", r.status, r.raw)
		}
		r = e.do(http.MethodPut, in.RegistrationClientURI, body(id+`,"jwks":`+jwksJSON(t, ed.Public())), bearer(in.RegistrationAccessToken))
		if r.status != http.StatusOK || r.info.ClientSecret != "" || r.info.JWKS == nil || r.info.TokenEndpointAuthSigningAlg != "" {
			t.Fatalf("update: %d %s", r.status, r.raw)
		}
		if _, err := a.TokensFor(client(ed, jose.EdDSA, "k1"), "files:read", resource); err != nil {
			t.Fatalf("new key: %v", err)
		}
		if _, err := a.TokensFor(client(ec, jose.ES256, "k1"), "files:read", resource); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("old key after the update: %v", err)
		}
	})
}
