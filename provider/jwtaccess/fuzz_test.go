package jwtaccess_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// FuzzVerifier: arbitrary input never panics; every refusal wraps ErrInvalidToken (the
// key set is in memory, so there is no other kind of failure); anything accepted carries
// the claims the server signed. The seeds (run by plain go test) include a valid token and
// near-misses of it.
func FuzzVerifier(f *testing.F) {
	s := gormtest.Open(f, gormtest.SQLite)
	keys, err := jwtaccess.NewKeyManager(context.Background(), jwtaccess.KeyManagerConfig{Store: s, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	const issuer = "https://as.example"
	v, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: issuer, Keys: keys})
	if err != nil {
		f.Fatal(err)
	}
	stored, err := s.ListSigningKeys(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	header := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": stored[0].ID}
	claims := map[string]any{"iss": issuer, "sub": testSubject, "aud": []string{"https://mcp.example/a", "https://mcp.example/b"},
		"client_id": "public-app", "scope": "read write", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "jti-0123456789"}
	valid := signRaw(f, header, claims, stored[0].Key)
	if _, err := v.VerifyAccessToken(context.Background(), valid); err != nil {
		f.Fatalf("seed token refused: %v", err)
	}
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1] + "." + parts[2][:10],
		parts[0] + ".e30." + parts[2],
		"eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.e30.AAAA",
		b64json(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": stored[0].ID, "crit": []string{"b64"}, "b64": false}) + "." + parts[1] + "." + parts[2],
		b64json(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": []int{1}}) + "." + parts[1] + "." + parts[2],
		b64json(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": stored[0].ID}) + "." + b64json(map[string]any{"exp": 1e300, "iat": -1e300}) + "." + parts[2],
		"ory_rt_abc.def",
		"..",
		"",
		"\x00.\xff.\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		at, err := v.VerifyAccessToken(context.Background(), token)
		if err != nil {
			if !errors.Is(err, provider.ErrInvalidToken) || at != nil {
				t.Fatalf("refusal %v (with %+v) does not wrap ErrInvalidToken", err, at)
			}
			return
		}
		if at.Subject != testSubject || at.ClientID != "public-app" || len(at.Audience) != 2 || len(at.Scopes) != 2 {
			t.Fatalf("accepted a token the server did not sign: %+v", at)
		}
	})
}
