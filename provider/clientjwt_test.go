package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// jwtKeys are the private keys of the private_key_jwt test clients, by kid.
type jwtKeys struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	otherEC *ecdsa.PrivateKey // the key of another client
}

func newJWTKeys(t *testing.T) jwtKeys {
	t.Helper()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return jwtKeys{rsa: r, ec: ec, ed: ed, otherEC: other}
}

// pkjwtEnv is an env with two private_key_jwt clients: "m2m" (RSA, EC and Ed25519 keys,
// client_credentials) and "other" (one EC key, pinned to ES256).
type pkjwtEnv struct {
	*env
	keys jwtKeys
}

func newPKJWTEnv(t *testing.T, s *gormstore.Store, opts ...envOption) *pkjwtEnv {
	t.Helper()
	e := &pkjwtEnv{env: newEnv(t, s, opts...), keys: newJWTKeys(t)}
	createPKJWTClients(t, e.p, e.keys)
	return e
}

func createPKJWTClients(t *testing.T, p *provider.Provider, k jwtKeys) {
	t.Helper()
	ctx := context.Background()
	if _, secret, err := p.CreateClient(ctx, provider.ClientSpec{
		ID: "m2m", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT,
		JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: k.rsa.Public(), KeyID: "rsa", Use: "sig"},
			{Key: k.ec.Public(), KeyID: "ec"},
			{Key: k.ed.Public(), KeyID: "ed", Algorithm: "EdDSA"},
		}},
	}); err != nil || secret != "" {
		t.Fatalf("CreateClient m2m: secret %q, %v", secret, err)
	}
	if _, _, err := p.CreateClient(ctx, provider.ClientSpec{
		ID: "other", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT,
		TokenEndpointAuthSigningAlg: "ES256",
		JWKS:                        &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.otherEC.Public(), KeyID: "other-ec"}}},
	}); err != nil {
		t.Fatal(err)
	}
}

// sign returns a compact JWS of claims with key under kid and alg.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key interface{}, kid string, claims interface{}) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims returns valid assertion claims for client id with aud.
func assertionClaims(id, aud string) map[string]interface{} {
	now := time.Now()
	return map[string]interface{}{
		"iss": id, "sub": id, "aud": aud, "jti": rand.Text(),
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
	}
}

// hmacSHA256 returns an HS256 signer keyed with secret, for rawJWS.
func hmacSHA256(secret []byte) func(input string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

// rawJWS builds header.payload.signature by hand, for algorithms go-jose will not sign.
func rawJWS(t *testing.T, header, claims map[string]interface{}, sig func(input string) []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return in + "." + base64.RawURLEncoding.EncodeToString(sig(in))
}

func (e *pkjwtEnv) clientCredentials(assertion string, extra url.Values) *http.Response {
	form := url.Values{
		"grant_type": {"client_credentials"}, "resource": {e.resource}, "scope": {"read"},
		"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {assertion},
	}
	for k, v := range extra {
		form[k] = v
	}
	return e.postForm(e.issuer+"/token", form, "", "")
}

// RFC 7523 §2.2: a static client authenticates with an assertion signed by any of its
// RSA, ECDSA P-256 and Ed25519 keys, with aud the token endpoint URL or the issuer; the
// client_credentials token is bound to the requested resource and has no refresh token.
func TestRFC7523_PrivateKeyJWT_Accepted(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newPKJWTEnv(t, s)
		cases := []struct {
			name string
			alg  jose.SignatureAlgorithm
			key  interface{}
			kid  string
			aud  string
		}{
			{"RS256 aud token URL", jose.RS256, e.keys.rsa, "rsa", e.issuer + "/token"},
			{"PS256 aud issuer", jose.PS256, e.keys.rsa, "rsa", e.issuer},
			{"ES256", jose.ES256, e.keys.ec, "ec", e.issuer + "/token"},
			{"EdDSA", jose.EdDSA, e.keys.ed, "ed", e.issuer},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp := e.clientCredentials(sign(t, c.alg, c.key, c.kid, assertionClaims("m2m", c.aud)), nil)
				tok := decode[tokenResponse](t, resp)
				if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
					t.Fatalf("status %d, %+v", resp.StatusCode, tok)
				}
				if tok.RefreshToken != "" {
					t.Error("client_credentials issued a refresh token")
				}
				in := e.introspect(tok.AccessToken)
				if !in.Active || in.ClientID != "m2m" || !slices.Equal(in.Aud, []string{e.resource}) {
					t.Errorf("introspection %+v, want active, client m2m, aud [%s]", in, e.resource)
				}
			})
		}
		md := decode[map[string]interface{}](t, e.get(e.base+"/.well-known/oauth-authorization-server/oauth"))
		if methods, _ := md["token_endpoint_auth_methods_supported"].([]interface{}); !slices.Contains(methods, interface{}("private_key_jwt")) {
			t.Errorf("token_endpoint_auth_methods_supported = %v", methods)
		}
		if algs, _ := md["token_endpoint_auth_signing_alg_values_supported"].([]interface{}); len(algs) != 4 {
			t.Errorf("token_endpoint_auth_signing_alg_values_supported = %v", algs)
		}
	})
}

// RFC 7523 §3 and RFC 7521 §4.2: every bad assertion is invalid_client (401, RFC 6749
// §5.2 JSON), an assertion beside another authentication method invalid_request (RFC 6749
// §5.2), and a rejected assertion does not burn its jti.
func TestRFC7523_Section3_Rejections(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newPKJWTEnv(t, s)
		tokenURL := e.issuer + "/token"
		ok := func(mod func(c map[string]interface{})) map[string]interface{} {
			c := assertionClaims("m2m", tokenURL)
			if mod != nil {
				mod(c)
			}
			return c
		}
		pubPEM, _ := x509.MarshalPKIXPublicKey(e.keys.rsa.Public())
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubPEM})
		rsaJWK, _ := json.Marshal(jose.JSONWebKey{Key: e.keys.rsa.Public(), KeyID: "rsa"})
		cases := []struct {
			name      string
			assertion string
			extra     url.Values
			user      string
			status    int    // default 401
			code      string // default invalid_client
		}{
			{name: "wrong aud", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(func(c map[string]interface{}) { c["aud"] = "https://evil.example/token" }))},
			{name: "extra aud", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(func(c map[string]interface{}) { c["aud"] = []string{tokenURL, "https://evil.example"} }))},
			{name: "expired", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(func(c map[string]interface{}) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))},
			{name: "missing exp", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(func(c map[string]interface{}) { delete(c, "exp") }))},
			{name: "exp too far ahead", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(func(c map[string]interface{}) { c["exp"] = time.Now().Add(10 * time.Minute).Unix() }))},
			{name: "missing jti", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(func(c map[string]interface{}) { delete(c, "jti") }))},
			{name: "unknown kid", assertion: sign(t, jose.ES256, e.keys.ec, "nope", ok(nil))},
			{name: "alg mismatch (ES256 header on the RSA kid)", assertion: sign(t, jose.ES256, e.keys.ec, "rsa", ok(nil))},
			{name: "alg mismatch (key alg EdDSA, RS256 used)", assertion: sign(t, jose.RS256, e.keys.rsa, "ed", ok(nil))},
			{name: "alg none", assertion: rawJWS(t, map[string]interface{}{"alg": "none", "kid": "rsa"}, ok(nil), func(string) []byte { return nil })},
			{name: "HS256 with the PEM public key as secret", assertion: rawJWS(t, map[string]interface{}{"alg": "HS256", "kid": "rsa"}, ok(nil), hmacSHA256(pemBytes))},
			{name: "HS256 with the JWK as secret", assertion: rawJWS(t, map[string]interface{}{"alg": "HS256", "kid": "rsa"}, ok(nil), hmacSHA256(rsaJWK))},
			{name: "key of another client", assertion: sign(t, jose.ES256, e.keys.otherEC, "other-ec", ok(nil))},
			{name: "another client's kid on its own key", assertion: sign(t, jose.ES256, e.keys.ec, "other-ec", assertionClaims("other", tokenURL))},
			{name: "pinned alg (other allows ES256 only)", assertion: sign(t, jose.EdDSA, e.keys.ed, "other-ec", assertionClaims("other", tokenURL))},
			{name: "assertion plus client_secret", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(nil)), extra: url.Values{"client_secret": {"x"}}, status: 400, code: "invalid_request"},
			{name: "assertion plus Basic", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(nil)), user: "m2m", status: 400, code: "invalid_request"},
			{name: "iss != sub", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(func(c map[string]interface{}) { c["iss"] = "other" }))},
			{name: "sub != client_id", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(nil)), extra: url.Values{"client_id": {"other"}}},
			{name: "wrong assertion type", assertion: sign(t, jose.ES256, e.keys.ec, "ec", ok(nil)), extra: url.Values{"client_assertion_type": {"urn:example:bogus"}}},
			{name: "not a JWT", assertion: "a.b.c"},
			{name: "secret client", assertion: sign(t, jose.ES256, e.keys.ec, "ec", assertionClaims(e.conf.ID, tokenURL))},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				form := url.Values{
					"grant_type": {"client_credentials"}, "resource": {e.resource},
					"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {c.assertion},
				}
				for k, v := range c.extra {
					form[k] = v
				}
				if c.status == 0 {
					c.status, c.code = http.StatusUnauthorized, "invalid_client"
				}
				wantJSONError(t, e.postForm(tokenURL, form, c.user, "secret"), c.status, c.code)
			})
		}

		t.Run("replayed jti", func(t *testing.T) {
			a := sign(t, jose.ES256, e.keys.ec, "ec", ok(nil))
			if resp := e.clientCredentials(a, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("first use: status %d", resp.StatusCode)
			}
			wantJSONError(t, e.clientCredentials(a, nil), http.StatusUnauthorized, "invalid_client")
		})
		t.Run("a wrong-aud assertion does not burn its jti", func(t *testing.T) {
			c := ok(nil)
			bad := ok(func(b map[string]interface{}) { b["jti"], b["aud"] = c["jti"], "https://evil.example" })
			wantJSONError(t, e.clientCredentials(sign(t, jose.ES256, e.keys.ec, "ec", bad), nil), http.StatusUnauthorized, "invalid_client")
			if resp := e.clientCredentials(sign(t, jose.ES256, e.keys.ec, "ec", c), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("good assertion with the same jti: status %d", resp.StatusCode)
			}
		})
		t.Run("secret at a private_key_jwt client", func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "resource": {e.resource}}
			wantJSONError(t, e.postForm(tokenURL, form, "m2m", "anything"), http.StatusUnauthorized, "invalid_client")
		})
	})
}

// RFC 7523 §3 item 7 across replicas: an assertion accepted by one Provider is refused by
// a second Provider on the same database.
func TestRFC7523_ReplayAcrossReplicas(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		e := newPKJWTEnv(t, db.Open(t, gormtest.DefaultOptions(t)))
		p2, err := provider.New(provider.Config{
			Issuer: e.issuer, Storage: db.Open(t, gormtest.DefaultOptions(t)),
			GlobalSecret: []byte("0123456789abcdef0123456789abcdef-test"), Scopes: []string{"read", "write"},
			Resources: []string{e.resource}, EnableClientCredentials: true,
			AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return testSubject, true },
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv2 := httptest.NewServer(p2.Handler())
		t.Cleanup(srv2.Close)
		a := sign(t, jose.ES256, e.keys.ec, "ec", assertionClaims("m2m", e.issuer+"/token"))
		if resp := e.clientCredentials(a, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("replica 1: status %d", resp.StatusCode)
		}
		form := url.Values{
			"grant_type": {"client_credentials"}, "resource": {e.resource},
			"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {a},
		}
		resp, err := srv2.Client().PostForm(srv2.URL+"/oauth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		wantJSONError(t, resp, http.StatusUnauthorized, "invalid_client")
	})
}

// RFC 7523 §2.2 at the other client-authenticating endpoints: revocation (RFC 7009),
// introspection (RFC 7662) and device authorization (RFC 8628 §3.1) accept a
// private_key_jwt client, refuse a bad assertion with invalid_client, and list the
// method and its algorithms in their metadata (RFC 8414 §2).
func TestRFC7523_PrivateKeyJWT_OtherEndpoints(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newPKJWTEnv(t, s, withDevice(provider.DeviceAuthorizationOptions{}))
		if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{
			ID: "tv", GrantTypes: []string{provider.GrantTypeDeviceCode}, TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT,
			JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: e.keys.ed.Public(), KeyID: "tv-ed"}}},
		}); err != nil {
			t.Fatal(err)
		}
		assertion := func(id, kid string, key interface{}, alg jose.SignatureAlgorithm) url.Values {
			return url.Values{"client_assertion_type": {provider.ClientAssertionType},
				"client_assertion": {sign(t, alg, key, kid, assertionClaims(id, e.issuer+"/token"))}}
		}
		with := func(a url.Values, kv ...string) url.Values {
			for i := 0; i+1 < len(kv); i += 2 {
				a.Set(kv[i], kv[i+1])
			}
			return a
		}
		tok := decode[tokenResponse](t, e.clientCredentials(sign(t, jose.ES256, e.keys.ec, "ec", assertionClaims("m2m", e.issuer)), nil))
		if tok.AccessToken == "" {
			t.Fatalf("no token: %+v", tok)
		}

		resp := e.postForm(e.issuer+"/introspect", with(assertion("m2m", "rsa", e.keys.rsa, jose.RS256), "token", tok.AccessToken), "", "")
		if in := decode[introspection](t, resp); resp.StatusCode != http.StatusOK || !in.Active || in.ClientID != "m2m" {
			t.Errorf("introspection with private_key_jwt: %d %+v", resp.StatusCode, in)
		}
		wantJSONError(t, e.postForm(e.issuer+"/introspect", with(assertion("m2m", "rsa", e.keys.otherEC, jose.ES256), "token", tok.AccessToken), "", ""),
			http.StatusUnauthorized, "invalid_client")

		wantJSONError(t, e.postForm(e.issuer+"/revoke", with(assertion("m2m", "nope", e.keys.ec, jose.ES256), "token", tok.AccessToken), "", ""),
			http.StatusUnauthorized, "invalid_client")
		if resp := e.postForm(e.issuer+"/revoke", with(assertion("m2m", "ec", e.keys.ec, jose.ES256), "token", tok.AccessToken), "", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("revocation with private_key_jwt: status %d", resp.StatusCode)
		}
		if in := e.introspect(tok.AccessToken); in.Active {
			t.Error("the revoked token is still active")
		}

		resp = e.postForm(e.issuer+"/device_authorization", with(assertion("tv", "tv-ed", e.keys.ed, jose.EdDSA), "scope", "read", "resource", e.resource), "", "")
		type deviceResponse struct {
			DeviceCode string `json:"device_code"`
			UserCode   string `json:"user_code"`
		}
		if dev := decode[deviceResponse](t, resp); resp.StatusCode != http.StatusOK || dev.DeviceCode == "" || dev.UserCode == "" {
			t.Errorf("device authorization with private_key_jwt: %d %+v", resp.StatusCode, dev)
		}
		wantJSONError(t, e.postForm(e.issuer+"/device_authorization", with(assertion("tv", "tv-ed", e.keys.ec, jose.ES256), "scope", "read"), "", ""),
			http.StatusUnauthorized, "invalid_client")

		md := decode[map[string]interface{}](t, e.get(e.base+"/.well-known/oauth-authorization-server/oauth"))
		for _, endpoint := range []string{"revocation", "introspection"} {
			k := endpoint + "_endpoint_auth_methods_supported"
			if methods, _ := md[k].([]interface{}); !slices.Contains(methods, interface{}("private_key_jwt")) {
				t.Errorf("%s = %v, want private_key_jwt listed", k, methods)
			}
			// RFC 8414 §2: with private_key_jwt listed, the algorithms MUST be too.
			k = endpoint + "_endpoint_auth_signing_alg_values_supported"
			if algs, _ := md[k].([]interface{}); len(algs) != len(provider.ClientAssertionAlgs()) {
				t.Errorf("%s = %v, want %v", k, algs, provider.ClientAssertionAlgs())
			}
		}
	})
}
