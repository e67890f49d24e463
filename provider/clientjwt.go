package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// ClientAssertionType is the RFC 7523 §2.2 client_assertion_type of private_key_jwt.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ClientAssertionAlgs returns the JWS algorithms accepted for client assertions (a fresh
// slice): asymmetric only, so that a key published by the client can never be used as an
// HMAC secret.
func ClientAssertionAlgs() []string { return []string{"RS256", "PS256", "ES256", "EdDSA"} }

// MaxClientAssertionLifetime bounds how far ahead an assertion's exp may lie, so that a
// stolen assertion is short-lived and the jti store stays small.
const MaxClientAssertionLifetime = 5 * time.Minute

// clientAssertionLeeway is the clock skew allowed on exp, nbf and iat.
const clientAssertionLeeway = 30 * time.Second

// errAssertion is the invalid_client error of every rejected assertion.
func errAssertion(hint string) error {
	return fosite.ErrInvalidClient.WithHint(hint)
}

// ClientKeySource supplies the keys private_key_jwt clients publish at a jwks_uri
// (Config.ClientKeys). jwtaccess.RemoteKeySets is the implementation: it fetches with the
// SSRF guard and a size cap, caches each set for a refresh interval, fetches again (rate
// limited) for an unknown kid, and keeps a bounded number of sets.
type ClientKeySource interface {
	// ClientKey returns the public key with ID kid from the key set at jwksURI. Any
	// error (no such key, the set could not be fetched) fails the client's
	// authentication with invalid_client; it is logged, not shown to the client.
	ClientKey(ctx context.Context, jwksURI, kid string) (*jose.JSONWebKey, error)
}

// ValidateClientJWKSURI checks a private_key_jwt client's jwks_uri (RFC 7591 §2): an
// absolute https URL with a host, no user information and no fragment; http only on a
// loopback host (for development: the SSRF guard refuses loopback addresses outside
// tests anyway). Registration, client ID metadata documents and static clients share it.
func ValidateClientJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("jwks_uri %q is not an absolute URL with a host", raw)
	case u.Scheme != "https" && !(u.Scheme == "http" && loopback.IsHost(u.Hostname())):
		return fmt.Errorf("jwks_uri %q must be https (http only on a loopback host)", raw)
	case u.User != nil:
		return fmt.Errorf("jwks_uri %q must not contain user information", raw)
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return fmt.Errorf("jwks_uri %q must not contain a fragment", raw)
	}
	return nil
}

// ValidateClientKeys checks where a private_key_jwt client's keys come from: exactly one
// of an inline key set (ValidateClientJWKS) and a jwks_uri (ValidateClientJWKSURI), and
// alg (when set) one of ClientAssertionAlgs. It returns a copy of the inline set (nil
// with a jwks_uri).
func ValidateClientKeys(set *jose.JSONWebKeySet, jwksURI, alg string) (*jose.JSONWebKeySet, error) {
	switch {
	case set != nil && jwksURI != "":
		return nil, errors.New("a private_key_jwt client has jwks or jwks_uri, not both (RFC 7591 §2)")
	case jwksURI == "":
		return ValidateClientJWKS(set, alg)
	}
	if err := validateAssertionAlg(alg); err != nil {
		return nil, err
	}
	return nil, ValidateClientJWKSURI(jwksURI)
}

// validateAssertionAlg checks a client's token_endpoint_auth_signing_alg: empty (every
// ClientAssertionAlgs entry) or one of them.
func validateAssertionAlg(alg string) error {
	if alg != "" && !slices.Contains(ClientAssertionAlgs(), alg) {
		return fmt.Errorf("token endpoint auth signing alg %q is not one of %v", alg, ClientAssertionAlgs())
	}
	return nil
}

// ValidateClientJWKS checks a private_key_jwt client's key set: at least one key, each a
// public RSA (≥ 2048 bits), ECDSA P-256 or Ed25519 key with a kid, usable for signatures,
// and alg (when set) one of ClientAssertionAlgs. It returns a copy of the set.
func ValidateClientJWKS(set *jose.JSONWebKeySet, alg string) (*jose.JSONWebKeySet, error) {
	if err := validateAssertionAlg(alg); err != nil {
		return nil, err
	}
	if set == nil || len(set.Keys) == 0 {
		return nil, errors.New("a private_key_jwt client needs at least one public key (JWKS)")
	}
	out := &jose.JSONWebKeySet{}
	for i, k := range set.Keys {
		if k.KeyID == "" {
			return nil, fmt.Errorf("JWKS key %d has no kid", i)
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, fmt.Errorf("JWKS key %q: use %q is not sig", k.KeyID, k.Use)
		}
		if !k.IsPublic() || !k.Valid() {
			return nil, fmt.Errorf("JWKS key %q must be a valid public key", k.KeyID)
		}
		if len(keyAlgs(k.Key)) == 0 {
			return nil, fmt.Errorf("JWKS key %q: only RSA (2048 bits or more), ECDSA P-256 and Ed25519 keys", k.KeyID)
		}
		if k.Algorithm != "" && !slices.Contains(keyAlgs(k.Key), k.Algorithm) {
			return nil, fmt.Errorf("JWKS key %q: alg %q does not fit the key", k.KeyID, k.Algorithm)
		}
		out.Keys = append(out.Keys, k)
	}
	return out, nil
}

// keyAlgs returns the ClientAssertionAlgs a public key can verify.
func keyAlgs(key interface{}) []string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return []string{"RS256", "PS256"}
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return []string{"ES256"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// authenticateClient is the fosite.ClientAuthenticationStrategy of every endpoint that
// authenticates clients (token, revocation, introspection, device authorization): a
// client assertion goes to authenticateAssertion, everything else to fosite's default
// strategy (client_secret_basic, client_secret_post, none).
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if form.Get("client_assertion") == "" && form.Get("client_assertion_type") == "" {
		return p.secretAuth(ctx, r, form)
	}
	return p.authenticateAssertion(ctx, r, form)
}

// authenticateAssertion applies RFC 7523 §2.2/§3 and RFC 7521 §4.2: one authentication
// method only, iss = sub = client_id, aud the token endpoint URL or the issuer, exp
// required and at most MaxClientAssertionLifetime ahead, an asymmetric alg the client
// allows, a key of the client's JWKS, and a jti used once until exp (recorded last, so
// a rejected assertion does not burn its jti).
func (p *Provider) authenticateAssertion(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	tok, alg, id, err := parseClientAssertion(r, form)
	if err != nil {
		return nil, err
	}
	c, err := p.assertionClient(ctx, id, alg)
	if err != nil {
		return nil, err
	}
	claims, err := p.verifyAssertion(ctx, tok, c)
	if err != nil {
		return nil, err
	}
	exp, err := p.checkAssertionClaims(claims, time.Now())
	if err != nil {
		return nil, err
	}
	if err := p.recordAssertionJTI(ctx, c, claims.ID, exp); err != nil {
		return nil, err
	}
	return c, nil
}

// parseClientAssertion checks the request's form (the assertion type, the assertion
// and no other authentication method) and parses the assertion without verifying it:
// it returns the token, its alg (one of ClientAssertionAlgs) and the client ID it claims
// (iss = sub, and client_id when the form has one).
func parseClientAssertion(r *http.Request, form url.Values) (tok *jwt.JSONWebToken, alg, id string, err error) {
	if form.Get("client_assertion_type") != ClientAssertionType {
		return nil, "", "", errAssertion("client_assertion_type must be " + ClientAssertionType + ".")
	}
	raw := form.Get("client_assertion")
	if raw == "" {
		return nil, "", "", errAssertion("client_assertion is missing.")
	}
	if _, _, ok := r.BasicAuth(); ok || r.Header.Get("Authorization") != "" || form.Get("client_secret") != "" {
		// RFC 6749 §5.2 names this case invalid_request, as checkClientAuthHeader does.
		return nil, "", "", fosite.ErrInvalidRequest.WithHint("The client must not use more than one authentication method.")
	}
	tok, err = jwt.ParseSigned(raw)
	if err != nil || len(tok.Headers) != 1 {
		return nil, "", "", errAssertion("client_assertion is not a compact signed JWT.")
	}
	alg = tok.Headers[0].Algorithm
	if !slices.Contains(ClientAssertionAlgs(), alg) {
		return nil, "", "", errAssertion(fmt.Sprintf("The assertion algorithm must be one of %v.", ClientAssertionAlgs()))
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, "", "", errAssertion("client_assertion claims are malformed.")
	}
	id = unverified.Subject
	if id == "" || unverified.Issuer != id {
		return nil, "", "", errAssertion("The assertion's iss and sub must both be the client_id.")
	}
	if cid := form.Get("client_id"); cid != "" && cid != id {
		return nil, "", "", errAssertion("client_id does not match the assertion's sub.")
	}
	return tok, alg, id, nil
}

// assertionClient loads the client an assertion names and checks that it is registered
// for private_key_jwt with keys and, when it fixed one, this alg.
func (p *Provider) assertionClient(ctx context.Context, id, alg string) (*Client, error) {
	fc, err := p.fstore.GetClient(ctx, id)
	if err != nil {
		if errors.Is(err, fosite.ErrNotFound) {
			return nil, errAssertion("Unknown client.")
		}
		return nil, err
	}
	c, ok := fc.(*Client)
	if !ok || c.GetTokenEndpointAuthMethod() != AuthMethodPrivateKeyJWT || (c.JWKS == nil && c.JWKSURI == "") {
		return nil, errAssertion("The client is not registered for private_key_jwt.")
	}
	if c.TokenEndpointAuthSigningAlg != "" && alg != c.TokenEndpointAuthSigningAlg {
		return nil, errAssertion("The assertion algorithm is not the client's token_endpoint_auth_signing_alg.")
	}
	return c, nil
}

// verifyAssertion verifies the assertion's signature with the client's key named by
// the header's kid (and fit for its alg) and returns the verified claims.
func (p *Provider) verifyAssertion(ctx context.Context, tok *jwt.JSONWebToken, c *Client) (jwt.Claims, error) {
	hdr := tok.Headers[0]
	var claims jwt.Claims
	for _, k := range p.assertionKeys(ctx, c, hdr.KeyID) {
		if k.KeyID != hdr.KeyID || (k.Use != "" && k.Use != "sig") ||
			(k.Algorithm != "" && k.Algorithm != hdr.Algorithm) || !slices.Contains(keyAlgs(k.Key), hdr.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, &claims) == nil {
			return claims, nil
		}
	}
	return claims, errAssertion("No key of the client (by kid and alg) verifies the assertion.")
}

// checkAssertionClaims checks the verified claims' times (exp required, at most
// MaxClientAssertionLifetime ahead; nbf and iat not in the future), aud (the token
// endpoint URL or the issuer) and jti (present), and returns exp.
func (p *Provider) checkAssertionClaims(claims jwt.Claims, now time.Time) (time.Time, error) {
	if claims.Expiry == nil {
		return time.Time{}, errAssertion("The assertion has no exp.")
	}
	exp := claims.Expiry.Time()
	if !now.Before(exp.Add(clientAssertionLeeway)) {
		return exp, errAssertion("The assertion has expired.")
	}
	if exp.After(now.Add(MaxClientAssertionLifetime + clientAssertionLeeway)) {
		return exp, errAssertion("The assertion's exp is too far ahead.")
	}
	if claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(clientAssertionLeeway)) {
		return exp, errAssertion("The assertion is not valid yet (nbf).")
	}
	if claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(clientAssertionLeeway)) {
		return exp, errAssertion("The assertion was issued in the future (iat).")
	}
	if len(claims.Audience) == 0 {
		return exp, errAssertion("The assertion has no aud.")
	}
	for _, a := range claims.Audience {
		if a != p.endpoints.token && a != p.cfg.Issuer {
			return exp, errAssertion("The assertion's aud must be the token endpoint URL or the issuer.")
		}
	}
	if claims.ID == "" {
		return exp, errAssertion("The assertion has no jti.")
	}
	return exp, nil
}

// recordAssertionJTI records the assertion's jti until exp (plus leeway). The store
// records it atomically and fails when it is known, so two replicas cannot both accept
// one assertion. The key is namespaced by client (escaped) so that no client ID or
// other assertion kind (ID-JAG's "id-jag:" keys) can collide with it.
func (p *Provider) recordAssertionJTI(ctx context.Context, c *Client, jti string, exp time.Time) error {
	replayKey := "client-assertion:" + url.QueryEscape(c.ID) + ":" + jti
	if err := p.fstore.SetClientAssertionJWT(ctx, replayKey, exp.Add(clientAssertionLeeway)); err != nil {
		if errors.Is(err, fosite.ErrJTIKnown) {
			return errAssertion("The assertion's jti has been used already.")
		}
		return err
	}
	return nil
}

// assertionKeys returns the client's candidate keys for an assertion naming kid: its
// inline set, or the key with that kid from its jwks_uri (none when the header has no
// kid, so that an assertion without one never causes a fetch).
func (p *Provider) assertionKeys(ctx context.Context, c *Client, kid string) []jose.JSONWebKey {
	if c.JWKSURI == "" {
		return c.JWKS.Keys
	}
	if p.cfg.ClientKeys == nil || kid == "" {
		return nil
	}
	k, err := p.cfg.ClientKeys.ClientKey(ctx, c.JWKSURI, kid)
	if err != nil || k == nil {
		p.log.InfoContext(ctx, "private_key_jwt: no key from the client's jwks_uri",
			slog.String("client_id", c.ID), slog.String("jwks_uri", c.JWKSURI), slog.String("kid", kid), slog.Any("error", err))
		return nil
	}
	return []jose.JSONWebKey{*k}
}
