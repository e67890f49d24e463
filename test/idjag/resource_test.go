package idjag_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/testidp"
)

// TestEnterpriseManagedAuthorization_ResourceBinding: extension §5.1 and RFC 8707 §2.2:
// an ID-JAG naming two resources is narrowed by the request's `resource`, and the token
// is bound to that one only; without a resource claim the token is bound to the requested
// resource, else to the default resource.
func TestEnterpriseManagedAuthorization_ResourceBinding(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		audience := func(assertion string, extra url.Values) []string {
			t.Helper()
			r := e.exchange(t, assertion, extra)
			if r.status != 200 {
				t.Fatalf("exchange: %s", r.raw)
			}
			at, err := e.auth.VerifyAccessToken(t.Context(), r.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			return at.Audience
		}
		two := e.idp.Claims(e.grant())
		two["resource"] = []string{e.resource, e.other}
		a, err := e.idp.Sign(two, testidp.Header{})
		if err != nil {
			t.Fatal(err)
		}
		if got := audience(a, url.Values{"resource": {e.other}}); len(got) != 1 || got[0] != e.other {
			t.Errorf("narrowed to other: audience %v", got)
		}
		none := e.idp.Claims(e.grant())
		delete(none, "resource")
		b, _ := e.idp.Sign(none, testidp.Header{})
		if got := audience(b, url.Values{"resource": {e.other}}); len(got) != 1 || got[0] != e.other {
			t.Errorf("no claim, resource=other: audience %v", got)
		}
		none["jti"] = "another-jti"
		c, _ := e.idp.Sign(none, testidp.Header{})
		if got := audience(c, nil); len(got) != 1 || got[0] != e.resource {
			t.Errorf("no claim, no resource: audience %v, want the default resource", got)
		}
	})
}

// TestEnterpriseManagedAuthorization_PrivateKeyJWTClient: extension §7.5.1: a client
// authenticating with private_key_jwt (RFC 7523 §2.2) presents an ID-JAG.
func TestEnterpriseManagedAuthorization_PrivateKeyJWTClient(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := e.auth.Provider().CreateClient(t.Context(), provider.ClientSpec{Name: "Key agent",
			TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, GrantTypes: []string{provider.GrantTypeJWTBearer},
			JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}})
		if err != nil {
			t.Fatal(err)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		payload, _ := json.Marshal(map[string]any{"iss": c.ID, "sub": c.ID, "aud": e.token, "jti": "client-assertion-1",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		clientAssertion, _ := jws.CompactSerialize()
		g := e.grant()
		g.ClientID = c.ID
		idjag, err := e.idp.Issue(g)
		if err != nil {
			t.Fatal(err)
		}
		r := e.post(t, url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {idjag},
			"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {clientAssertion}}, "", "")
		if r.status != 200 {
			t.Fatalf("exchange with private_key_jwt: %s", r.raw)
		}
		at, err := e.auth.VerifyAccessToken(t.Context(), r.AccessToken)
		if err != nil || at.ClientID != c.ID {
			t.Fatalf("token %+v, %v", at, err)
		}
	})
}
