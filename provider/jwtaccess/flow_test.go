package jwtaccess_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestRFC9068_FullFlow: authorize → token gives an RFC 9068 JWT (header and every claim
// checked) that verifies locally and through the provider; introspection answers with the
// same claims; the JWKS publishes its kid; refresh gives a new JWT; revocation makes
// introspection and Provider.VerifyAccessToken refuse it while local verification, by
// design, accepts it until exp.
func TestRFC9068_FullFlow(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		ctx := context.Background()
		before := time.Now().Add(-time.Second)
		tok := e.tokens("read write")
		after := time.Now().Add(time.Second)

		// RFC 9068 §2.1 header, §2.2 claims.
		j := decodeJWS(t, tok.AccessToken)
		kid, _ := e.keys.SigningKeyID(ctx)
		wantHeader := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}
		for k, v := range wantHeader {
			if j.header[k] != v {
				t.Errorf("header %s = %v, want %v", k, j.header[k], v)
			}
		}
		if len(j.header) != len(wantHeader) {
			t.Errorf("header has extra members: %v", j.header)
		}
		c := j.claims
		for k, want := range map[string]any{
			"iss": e.issuer, "sub": testSubject, "aud": e.resource, "client_id": e.public.ID, "scope": "read write",
		} {
			if c[k] != want {
				t.Errorf("claim %s = %v, want %v", k, c[k], want)
			}
		}
		num := func(k string) time.Time {
			n, err := c[k].(json.Number).Int64()
			if err != nil {
				t.Fatalf("claim %s = %v: %v", k, c[k], err)
			}
			return time.Unix(n, 0)
		}
		iat, exp := num("iat"), num("exp")
		if iat.Before(before.Truncate(time.Second)) || iat.After(after) {
			t.Errorf("iat %v not between %v and %v", iat, before, after)
		}
		if d := exp.Sub(iat); d < jwtaccess.DefaultAccessTokenLifespan-2*time.Second || d > jwtaccess.DefaultAccessTokenLifespan+2*time.Second {
			t.Errorf("exp - iat = %v, want %v", d, jwtaccess.DefaultAccessTokenLifespan)
		}
		if tok.ExpiresIn < int64(jwtaccess.DefaultAccessTokenLifespan/time.Second)-2 || tok.ExpiresIn > int64(jwtaccess.DefaultAccessTokenLifespan/time.Second) {
			t.Errorf("expires_in %d", tok.ExpiresIn)
		}
		if jti, _ := c["jti"].(string); len(jti) < 16 {
			t.Errorf("jti %q too short", jti)
		}

		// Local verification.
		at, err := e.verifier.VerifyAccessToken(ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("local verify: %v", err)
		}
		if at.Subject != testSubject || at.ClientID != e.public.ID || !slices.Equal(at.Scopes, []string{"read", "write"}) ||
			!slices.Equal(at.Audience, []string{e.resource}) || !at.ExpiresAt.Equal(exp) || !at.IssuedAt.Equal(iat) {
			t.Errorf("local verify: %+v", at)
		}
		// Through the provider (storage): same answer, plus the grant ID.
		pat, err := e.p.VerifyAccessToken(ctx, tok.AccessToken)
		if err != nil || pat.Subject != at.Subject || !slices.Equal(pat.Audience, at.Audience) || !pat.ExpiresAt.Equal(at.ExpiresAt) || pat.GrantID == "" {
			t.Errorf("provider verify: %+v %v", pat, err)
		}
		// RFC 7662 introspection answers for the JWT with the same claims.
		in := e.introspect(tok.AccessToken)
		if !in.Active || in.Sub != testSubject || in.ClientID != e.public.ID || in.Scope != "read write" ||
			!slices.Equal(in.Aud, []string{e.resource}) || in.Iss != e.issuer || in.Exp != exp.Unix() || in.TokenUse != "access_token" {
			t.Errorf("introspection %+v", in)
		}

		// JWKS publishes the kid, public only.
		resp, err := http.Get(e.issuer + jwtaccess.JWKSPath)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Key(kid)) != 1 || !set.Key(kid)[0].IsPublic() || strings.Contains(string(body), `"d"`) {
			t.Errorf("JWKS %s does not publish the public key %s", body, kid)
		}
		if m := e.p.Metadata(); m.JWKSURI != e.issuer+jwtaccess.JWKSPath {
			t.Errorf("jwks_uri %q", m.JWKSURI)
		}

		// Refresh gives a new, different JWT that verifies; the refresh token itself is not
		// an access token.
		tok2 := e.refresh(tok.RefreshToken)
		if tok2.AccessToken == tok.AccessToken || strings.Count(tok2.AccessToken, ".") != 2 {
			t.Fatalf("refresh gave %q", tok2.AccessToken)
		}
		j2 := decodeJWS(t, tok2.AccessToken)
		if j2.claims["jti"] == j.claims["jti"] || j2.claims["aud"] != e.resource || j2.header["typ"] != "at+jwt" {
			t.Errorf("refreshed token claims %v", j2.claims)
		}
		if _, err := e.verifier.VerifyAccessToken(ctx, tok2.AccessToken); err != nil {
			t.Errorf("refreshed token: %v", err)
		}
		for name, v := range map[string]interface {
			VerifyAccessToken(context.Context, string) (*provider.AccessToken, error)
		}{"local": e.verifier, "provider": e.p} {
			if _, err := v.VerifyAccessToken(ctx, tok2.RefreshToken); !errors.Is(err, provider.ErrInvalidToken) {
				t.Errorf("%s: refresh token accepted as access token: %v", name, err)
			}
		}

		// Revocation (RFC 7009): the grant's tokens are gone from storage, so
		// introspection and the provider refuse them ...
		e.revoke(tok2.RefreshToken)
		if in := e.introspect(tok2.AccessToken); in.Active {
			t.Errorf("revoked token still active in introspection: %+v", in)
		}
		if _, err := e.p.VerifyAccessToken(ctx, tok2.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
			t.Errorf("provider accepts a revoked token: %v", err)
		}
		// ... while local verification cannot know until exp: the documented trade-off.
		if _, err := e.verifier.VerifyAccessToken(ctx, tok2.AccessToken); err != nil {
			t.Errorf("local verification is expected to accept a revoked token until exp, got %v", err)
		}
	})
}

// TestRFC9068_ClientCredentialsSubjectIsClient: RFC 9068 §2.2: without a resource owner,
// sub identifies the client.
func TestRFC9068_ClientCredentialsSubjectIsClient(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		resp := e.postForm(e.issuer+"/token", map[string][]string{"grant_type": {"client_credentials"}, "resource": {e.resource}}, e.rs.ID, e.rsSecret)
		tok := decode[tokenResponse](t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("client credentials: %d %+v", resp.StatusCode, tok)
		}
		at, err := e.verifier.VerifyAccessToken(context.Background(), tok.AccessToken)
		if err != nil || at.Subject != e.rs.ID || at.ClientID != e.rs.ID || !slices.Equal(at.Audience, []string{e.resource}) {
			t.Fatalf("%+v %v", at, err)
		}
	})
}

// TestRFC9068_ECDSASignatureTwin documents an ECDSA property: (r, n-s) is a second valid
// signature of the same token. It verifies locally with identical claims (nothing gained),
// and the provider, which looks tokens up by signature, does not know it.
func TestRFC9068_ECDSASignatureTwin(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		ctx := context.Background()
		tok := e.tokens("read")
		twin := malleate(t, tok.AccessToken)
		a, err1 := e.verifier.VerifyAccessToken(ctx, tok.AccessToken)
		b, err2 := e.verifier.VerifyAccessToken(ctx, twin)
		if err1 != nil || err2 != nil || a.Subject != b.Subject || !a.ExpiresAt.Equal(b.ExpiresAt) {
			t.Fatalf("%v %v", err1, err2)
		}
		if _, err := e.p.VerifyAccessToken(ctx, twin); !errors.Is(err, provider.ErrInvalidToken) {
			t.Fatalf("provider knows the twin: %v", err)
		}
	})
}

// TestJWKSHandler: GET/HEAD with JSON, CORS and a modest max-age; preflight; 405 otherwise.
func TestJWKSHandler(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	e := newEnv(t, s, envOptions{})
	u := e.issuer + jwtaccess.JWKSPath
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(m, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != "application/json" || h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("%s: %d %v", m, resp.StatusCode, h)
		}
		if (m == http.MethodHead) != (len(body) == 0) {
			t.Errorf("%s: body %q", m, body)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, u, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Post(u, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}
