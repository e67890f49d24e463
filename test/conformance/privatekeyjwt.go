package conformance

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// clientAssertionType is the RFC 7523 §2.2 client_assertion_type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionClient is a client pre-registered at the authorization server that
// authenticates with private_key_jwt (RFC 7523 §2.2) and may use the client_credentials
// grant (the MCP client-credentials extension's machine-to-machine case).
type AssertionClient struct {
	// ID is the client_id. Required.
	ID string
	// Key is the private key whose public half is in the client's registered key set
	// (jwks or jwks_uri): *rsa.PrivateKey, *ecdsa.PrivateKey (P-256) or
	// ed25519.PrivateKey. Required.
	Key crypto.Signer
	// KeyID is that public key's kid. Required.
	KeyID string
	// Algorithm is the JWS algorithm. Default by key type: RS256, ES256, EdDSA.
	Algorithm string
}

// algorithm returns the JWS algorithm of c.
func (c *AssertionClient) algorithm() (jose.SignatureAlgorithm, error) {
	if c.Algorithm != "" {
		return jose.SignatureAlgorithm(c.Algorithm), nil
	}
	switch c.Key.(type) {
	case *rsa.PrivateKey:
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		return jose.ES256, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("unsupported private key type %T", c.Key)
}

// assertion signs a client assertion for aud, valid from iat until exp.
func (c *AssertionClient) assertion(aud string, iat, exp time.Time) (string, error) {
	alg, err := c.algorithm()
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: c.Key, KeyID: c.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: c.ID, Subject: c.ID, Audience: jwt.Audience{aud}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(iat), Expiry: jwt.NewNumericDate(exp),
	}).CompactSerialize()
}

// pkjwtChecks are the private_key_jwt checks, skipped together when the server does not
// advertise the method; all but PKJWT-META also need Target.PrivateKeyJWT.
var pkjwtChecks = []string{"PKJWT-META", "PKJWT-ACCEPTED", "PKJWT-NO-REFRESH", "PKJWT-WRONG-AUD", "PKJWT-EXPIRED", "PKJWT-REPLAY"}

// privateKeyJWT checks private_key_jwt client authentication (RFC 7523 §2.2, §3) with
// Target.PrivateKeyJWT at the token endpoint, through the client_credentials grant for
// the MCP resource: the metadata, a valid assertion (its token used at the MCP
// endpoint), and the refusal of a wrong aud, an expired assertion and a replayed one.
func (r *runner) privateKeyJWT(ctx context.Context) {
	if r.asm == nil {
		r.skipAll("no authorization server metadata", pkjwtChecks...)
		return
	}
	methods, _ := stringList(r.asm, "token_endpoint_auth_methods_supported")
	if !contains(methods, "private_key_jwt") {
		r.skipAll("the authorization server does not list private_key_jwt in token_endpoint_auth_methods_supported (RFC 7523 client authentication is optional)", pkjwtChecks...)
		return
	}
	// RFC 8414 §2: every endpoint listing private_key_jwt lists its algorithms, without
	// none (and HMAC would make a client's public key a shared secret).
	var algs, ev []string
	metaOK := true
	for _, endpoint := range []string{"token", "revocation", "introspection"} {
		ms, _ := stringList(r.asm, endpoint+"_endpoint_auth_methods_supported")
		if !contains(ms, "private_key_jwt") {
			continue
		}
		key := endpoint + "_endpoint_auth_signing_alg_values_supported"
		as, _ := stringList(r.asm, key)
		if endpoint == "token" {
			algs = as
		}
		ev = append(ev, key+": "+strings.Join(as, " "))
		var bad []string
		for _, a := range as {
			if strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS") {
				bad = append(bad, a)
			}
		}
		switch {
		case len(as) == 0:
			metaOK = false
			r.violation("PKJWT-META", endpoint+"_endpoint_auth_methods_supported lists private_key_jwt without "+key, ev...)
		case len(bad) > 0:
			metaOK = false
			r.violation("PKJWT-META", key+" includes none or HMAC ("+strings.Join(bad, ", ")+"): a client's public key could serve as an HMAC secret", ev...)
		}
		if !metaOK {
			break
		}
	}
	if metaOK {
		r.pass("PKJWT-META", ev...)
	}

	rest := pkjwtChecks[1:]
	c := r.t.PrivateKeyJWT
	switch {
	case c == nil || c.ID == "" || c.Key == nil:
		r.skipAll("no private_key_jwt client configured (Target.PrivateKeyJWT; the command's -pkjwt-client-id, -pkjwt-key and -pkjwt-kid flags)", rest...)
		return
	case r.endpoints.token == "":
		r.skipAll("no token endpoint", rest...)
		return
	}
	if alg, err := c.algorithm(); err == nil && len(algs) > 0 && !contains(algs, string(alg)) {
		r.skipAll(fmt.Sprintf("the configured key's algorithm %s is not in token_endpoint_auth_signing_alg_values_supported", alg), rest...)
		return
	}
	post := func(assertion string) *exchange {
		form := url.Values{
			"grant_type": {"client_credentials"}, "resource": {r.mcpURL},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {assertion},
		}
		if len(r.scopes) > 0 {
			form.Set("scope", strings.Join(r.scopes, " "))
		}
		return r.postForm(ctx, r.endpoints.token, form, "", "")
	}
	sign := func(aud string, iat, exp time.Time) (string, bool) {
		a, err := c.assertion(aud, iat, exp)
		if err != nil {
			r.skipAll("signing an assertion with the configured key failed: "+err.Error(), rest...)
			return "", false
		}
		return a, true
	}
	now := time.Now()
	good, ok := sign(r.endpoints.token, now, now.Add(2*time.Minute))
	if !ok {
		return
	}
	e := post(good)
	m := e.object()
	access := str(m, "access_token")
	if e.status != http.StatusOK || access == "" {
		r.violation("PKJWT-ACCEPTED", "a valid assertion (aud = the token endpoint, exp in 2 minutes) got no access token", e.withError())
		r.skipAll("no valid assertion was accepted, so refusals say nothing", rest[1:]...)
		return
	}
	use := r.mcpPost(ctx, "", access)
	r.check("PKJWT-ACCEPTED", accepted(use), fmt.Sprintf("the MCP server answered %d to the client_credentials token", use.status), e.line(), use.line())
	r.check("PKJWT-NO-REFRESH", str(m, "refresh_token") == "", "client_credentials issued a refresh token", e.line())

	refused := func(id, what string, e *exchange) {
		code, _ := e.oauthError()
		r.check(id, (e.status == http.StatusUnauthorized || e.status == http.StatusBadRequest) && code == "invalid_client",
			fmt.Sprintf("%s got %d %q, want 401 (or 400) invalid_client", what, e.status, code), e.withError())
	}
	refused("PKJWT-REPLAY", "the accepted assertion sent again (same jti)", post(good))
	if a, ok := sign("https://conformance.invalid/token", now, now.Add(2*time.Minute)); ok {
		refused("PKJWT-WRONG-AUD", "an assertion for another audience", post(a))
	}
	if a, ok := sign(r.endpoints.token, now.Add(-10*time.Minute), now.Add(-5*time.Minute)); ok {
		refused("PKJWT-EXPIRED", "an assertion expired 5 minutes ago", post(a))
	}
}
