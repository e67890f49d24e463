package jwtaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// KeySet gives a Verifier the public key for a key ID. *KeyManager (same deployment,
// in-memory) and *RemoteKeySet (a jwks_uri) implement it.
type KeySet interface {
	// VerificationKey returns the public key with ID kid. It returns an error wrapping
	// ErrUnknownKey when the set has no such key; other errors mean the set could not be
	// obtained (the Verifier reports them as they are, not as an invalid token).
	VerificationKey(ctx context.Context, kid string) (*jose.JSONWebKey, error)
}

// Errors of the Verifier. Each wraps oauth.ErrInvalidToken.
var (
	// ErrUnknownKey: the token's kid names no published key (forged, or signed with a
	// deleted key).
	ErrUnknownKey = fmt.Errorf("%w: unknown signing key", oauth.ErrInvalidToken)
	// ErrTokenExpired: the token's exp has passed (beyond the leeway).
	ErrTokenExpired = fmt.Errorf("%w: expired", oauth.ErrInvalidToken)
)

// supportedAlgorithms are the asymmetric JWS algorithms a Verifier may allow. "none" and
// the HMAC algorithms are never accepted: a verifier's keys are public.
var supportedAlgorithms = map[string]bool{
	"ES256": true, "ES384": true, "ES512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"EdDSA": true,
}

func allowedAlgorithm(alg string) bool { return supportedAlgorithms[alg] }

// VerifierConfig configures a Verifier. Issuer and Keys are required.
type VerifierConfig struct {
	// Issuer is the authorization server's issuer identifier; the iss claim must equal it
	// byte for byte.
	Issuer string

	// Keys supplies the public keys: the *KeyManager of the authorization server in the
	// same deployment, or a *RemoteKeySet on its jwks_uri.
	Keys KeySet

	// Algorithms is the allow-list of JWS algorithms. Default ES256 and RS256 (what
	// KeyManager signs with). Only asymmetric algorithms can be listed: never "none",
	// never HS256/384/512.
	Algorithms []string

	// Leeway tolerates clock skew when checking exp, nbf and iat. Default 30 seconds;
	// negative means none.
	Leeway time.Duration

	// MaxTokenBytes refuses longer tokens before parsing them. Default 16 KiB.
	MaxTokenBytes int

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks RFC 9068 JWT access tokens locally: no database round trip, so it
// cannot see revocation (see the package documentation). It implements
// resourceserver.AccessTokenVerifier. It does not check the audience or scopes: the caller
// (the bearer middleware) does. Safe for concurrent use.
type Verifier struct {
	issuer   string
	keys     KeySet
	algs     map[string]bool
	leeway   time.Duration
	maxBytes int
	now      func() time.Time
}

// NewVerifier validates cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("jwtaccess: VerifierConfig.Issuer is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("jwtaccess: VerifierConfig.Keys is required")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{"ES256", "RS256"}
	}
	v := &Verifier{issuer: cfg.Issuer, keys: cfg.Keys, algs: make(map[string]bool, len(algs)),
		leeway: cfg.Leeway, maxBytes: cfg.MaxTokenBytes, now: cfg.Now}
	for _, a := range algs {
		if !supportedAlgorithms[a] {
			return nil, fmt.Errorf("jwtaccess: algorithm %q cannot be allowed (asymmetric JWS algorithms only)", a)
		}
		v.algs[a] = true
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.maxBytes <= 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// accessClaims are the RFC 9068 §2.2 claims a Verifier reads.
type accessClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{oauth.ErrInvalidToken}, args...)...)
}

// VerifyAccessToken verifies token and returns what it says. In order: size and compact
// JWS form; exactly one signature; alg on the allow-list; typ "at+jwt" (RFC 9068 §4); no
// crit header; kid naming a published key of the same algorithm; the signature; iss
// exactly the issuer; exp (required), nbf and iat (required) within the leeway; sub,
// client_id and jti present. Every refusal wraps oauth.ErrInvalidToken (ErrTokenExpired
// and ErrUnknownKey among them); a KeySet failure is returned as it is. GrantID is empty:
// JWTs do not carry the grant.
func (v *Verifier) VerifyAccessToken(ctx context.Context, token string) (*oauth.AccessToken, error) {
	if token == "" {
		return nil, invalid("empty token")
	}
	if len(token) > v.maxBytes {
		return nil, invalid("token too long")
	}
	if !compactJWS(token) {
		return nil, invalid("not a compact JWS")
	}
	jws, err := jose.ParseSigned(token)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("malformed JWS")
	}
	h := jws.Signatures[0].Protected
	if !v.algs[h.Algorithm] {
		return nil, invalid("algorithm %q not allowed", h.Algorithm)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !isAccessTokenType(typ) {
		return nil, invalid("typ is not at+jwt")
	}
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, invalid("crit header not supported")
	}
	if h.KeyID == "" {
		return nil, invalid("no kid")
	}
	key, err := v.keys.VerificationKey(ctx, h.KeyID)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidToken) {
			return nil, err
		}
		return nil, fmt.Errorf("jwtaccess: obtaining verification keys: %w", err)
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, invalid("algorithm %q does not match the key", h.Algorithm)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, invalid("bad signature")
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid("malformed claims")
	}
	if c.Issuer != v.issuer {
		return nil, invalid("other issuer")
	}
	now := v.now()
	if c.Expiry == nil {
		return nil, invalid("no exp")
	}
	exp := c.Expiry.Time()
	if now.After(exp.Add(v.leeway)) {
		return nil, ErrTokenExpired
	}
	if c.NotBefore != nil && now.Add(v.leeway).Before(c.NotBefore.Time()) {
		return nil, invalid("not valid yet")
	}
	if c.IssuedAt == nil {
		return nil, invalid("no iat")
	}
	iat := c.IssuedAt.Time()
	if now.Add(v.leeway).Before(iat) {
		return nil, invalid("issued in the future")
	}
	if c.Subject == "" || c.ClientID == "" || c.ID == "" {
		return nil, invalid("sub, client_id or jti missing")
	}
	return &oauth.AccessToken{
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		Scopes:    strings.Fields(c.Scope),
		Audience:  append([]string(nil), c.Audience...),
		IssuedAt:  iat,
		ExpiresAt: exp,
	}, nil
}

// compactJWS reports whether token has the shape header.payload.signature with base64url
// characters only (no whitespace, padding or JSON serialization, which go-jose would
// otherwise accept).
func compactJWS(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// isAccessTokenType implements RFC 9068 §4: typ "at+jwt", or "application/at+jwt",
// compared case-insensitively (RFC 7515 §4.1.9 media types).
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == TokenType || typ == "application/"+TokenType
}

// signatureOf is the JWS signature part of a compact token, or "".
func signatureOf(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || strings.Count(token, ".") != 2 {
		return ""
	}
	return token[i+1:]
}
