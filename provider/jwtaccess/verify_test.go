package jwtaccess_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// forge gives a test the real signing key, for tokens that are correctly signed but wrong
// in some other way.
type forge struct {
	e   *env
	kid string
	key *ecdsa.PrivateKey
}

func newForge(t *testing.T, e *env) *forge {
	t.Helper()
	keys, err := e.store.ListSigningKeys(context.Background())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
	return &forge{e: e, kid: keys[0].ID, key: keys[0].Key.(*ecdsa.PrivateKey)}
}

func (f *forge) header() map[string]any {
	return map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": f.kid}
}

func (f *forge) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": f.e.issuer, "sub": testSubject, "aud": f.e.resource, "client_id": "public-app",
		"scope": "read", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "jti-1234567890",
	}
}

// TestVerifier_RejectsBadTokens: every malformed, forged, expired or otherwise wrong token
// is refused with an error wrapping provider.ErrInvalidToken, and nothing panics.
func TestVerifier_RejectsBadTokens(t *testing.T) {
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		f := newForge(t, e)
		ctx := context.Background()
		tok := e.tokens("read")

		// The forge itself must produce an accepted token, or every case below proves nothing.
		if _, err := e.verifier.VerifyAccessToken(ctx, signRaw(t, f.header(), f.claims(), f.key)); err != nil {
			t.Fatalf("control token refused: %v", err)
		}
		pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: &f.key.PublicKey})
		with := func(m map[string]any, k string, v any) map[string]any {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
			return m
		}
		other := signRaw(t, f.header(), f.claims(), f.key)
		parts := strings.Split(tok.AccessToken, ".")
		tamperedClaims := f.claims()
		tamperedClaims["scope"] = "read write admin"

		cases := map[string]string{
			"wrong signature (another token's)":   parts[0] + "." + parts[1] + "." + strings.Split(other, ".")[2],
			"signed by an unknown key, known kid": signRaw(t, f.header(), f.claims(), otherEC),
			"unknown kid":                         signRaw(t, with(f.header(), "kid", "no-such-key"), f.claims(), otherEC),
			"no kid":                              signRaw(t, with(f.header(), "kid", nil), f.claims(), f.key),
			"alg none":                            signRaw(t, with(f.header(), "alg", "none"), f.claims(), nil),
			"alg none, empty signature, no dot":   strings.TrimSuffix(signRaw(t, with(f.header(), "alg", "none"), f.claims(), nil), "."),
			"HS256 with the public key as secret": signRaw(t, with(f.header(), "alg", "HS256"), f.claims(), pubJWK),
			"RS256 header on an EC key":           signRaw(t, with(f.header(), "alg", "RS256"), f.claims(), rsaKey),
			"ES384 header":                        signRaw(t, with(f.header(), "alg", "ES384"), f.claims(), f.key),
			"RFC 9068 §4 typ missing":             signRaw(t, with(f.header(), "typ", nil), f.claims(), f.key),
			"RFC 9068 §4 typ JWT":                 signRaw(t, with(f.header(), "typ", "JWT"), f.claims(), f.key),
			"RFC 9068 §4 typ not a string":        signRaw(t, with(f.header(), "typ", 1), f.claims(), f.key),
			"crit header":                         signRaw(t, with(f.header(), "crit", []string{"exp"}), f.claims(), f.key),
			"expired":                             signRaw(t, f.header(), with(f.claims(), "exp", time.Now().Add(-time.Minute).Unix()), f.key),
			"no exp":                              signRaw(t, f.header(), with(f.claims(), "exp", nil), f.key),
			"exp not a number":                    signRaw(t, f.header(), with(f.claims(), "exp", "tomorrow"), f.key),
			"not yet valid (nbf)":                 signRaw(t, f.header(), with(f.claims(), "nbf", time.Now().Add(time.Hour).Unix()), f.key),
			"issued in the future":                signRaw(t, f.header(), with(f.claims(), "iat", time.Now().Add(time.Hour).Unix()), f.key),
			"no iat":                              signRaw(t, f.header(), with(f.claims(), "iat", nil), f.key),
			"other issuer":                        signRaw(t, f.header(), with(f.claims(), "iss", "https://evil.example"), f.key),
			"issuer with trailing slash":          signRaw(t, f.header(), with(f.claims(), "iss", e.issuer+"/"), f.key),
			"no sub":                              signRaw(t, f.header(), with(f.claims(), "sub", nil), f.key),
			"no client_id":                        signRaw(t, f.header(), with(f.claims(), "client_id", nil), f.key),
			"no jti":                              signRaw(t, f.header(), with(f.claims(), "jti", nil), f.key),
			"tampered claims":                     parts[0] + "." + b64json(tamperedClaims) + "." + parts[2],
			"tampered header":                     b64json(with(f.header(), "typ", "application/at+jwt")) + "." + parts[1] + "." + parts[2],
			"claims not JSON":                     parts[0] + ".bm90IGpzb24." + parts[2],
			"refresh token presented":             tok.RefreshToken,
			"JWS JSON serialization":              `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
			"whitespace inside":                   parts[0] + ".\n" + parts[1] + "." + parts[2],
			"four parts":                          tok.AccessToken + ".x",
			"empty":                               "",
			"dots":                                "..",
			"garbage":                             "garbage",
			"base64 padding":                      tok.AccessToken + "==",
			"huge":                                strings.Repeat("a", 20<<10) + ".b.c",
		}
		for name, token := range cases {
			at, err := e.verifier.VerifyAccessToken(ctx, token)
			if !errors.Is(err, provider.ErrInvalidToken) || at != nil {
				t.Errorf("%s: got %+v, %v; want ErrInvalidToken", name, at, err)
			}
		}
		if _, err := e.verifier.VerifyAccessToken(ctx, cases["expired"]); !errors.Is(err, jwtaccess.ErrTokenExpired) {
			t.Errorf("expired: %v, want ErrTokenExpired", err)
		}
		if _, err := e.verifier.VerifyAccessToken(ctx, cases["unknown kid"]); !errors.Is(err, jwtaccess.ErrUnknownKey) {
			t.Errorf("unknown kid: %v, want ErrUnknownKey", err)
		}
		// The provider (introspection path) refuses them as well.
		for name, token := range cases {
			if _, err := e.p.VerifyAccessToken(ctx, token); !errors.Is(err, provider.ErrInvalidToken) {
				t.Errorf("provider, %s: %v", name, err)
			}
		}
		// RFC 9068 §4: application/at+jwt, any case, is the same type.
		for _, typ := range []string{"application/at+jwt", "AT+JWT", "Application/At+Jwt"} {
			if _, err := e.verifier.VerifyAccessToken(ctx, signRaw(t, with(f.header(), "typ", typ), f.claims(), f.key)); err != nil {
				t.Errorf("typ %q refused: %v", typ, err)
			}
		}
		// Leeway: 10 s past exp is accepted (default 30 s), 10 s in the future for iat too.
		if _, err := e.verifier.VerifyAccessToken(ctx, signRaw(t, f.header(), with(f.claims(), "exp", time.Now().Add(-10*time.Second).Unix()), f.key)); err != nil {
			t.Errorf("within leeway: %v", err)
		}
	})
}

// TestNewVerifier_AlgorithmAllowList: none and HMAC algorithms cannot be allowed.
func TestNewVerifier_AlgorithmAllowList(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	keys, err := jwtaccess.NewKeyManager(context.Background(), jwtaccess.KeyManagerConfig{Store: s, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"none", "HS256", "HS384", "HS512", "", "es256"} {
		if _, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: "https://as.example", Keys: keys, Algorithms: []string{alg}}); err == nil {
			t.Errorf("algorithm %q accepted", alg)
		}
	}
	if _, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Keys: keys}); err == nil {
		t.Error("missing issuer accepted")
	}
	if _, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: "https://as.example"}); err == nil {
		t.Error("missing keys accepted")
	}
}
