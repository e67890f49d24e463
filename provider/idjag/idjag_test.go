package idjag_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider/idjag"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

type staticKeys map[string]*jose.JSONWebKey

func (s staticKeys) VerificationKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s", jwtaccess.ErrUnknownKey, kid)
}

type idp struct {
	iss  string
	kid  string
	priv *ecdsa.PrivateKey
}

func newIdP(t *testing.T, iss, kid string) *idp {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &idp{iss: iss, kid: kid, priv: k}
}

func (p *idp) keys() staticKeys {
	return staticKeys{p.kid: {Key: &p.priv.PublicKey, KeyID: p.kid, Algorithm: "ES256", Use: "sig"}}
}

const aud = "https://as.example"

var now = time.Unix(1_800_000_000, 0)

func claims(iss string) map[string]any {
	return map[string]any{"iss": iss, "sub": "alice", "aud": aud, "client_id": "c1", "jti": "j1",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "resource": "https://mcp.example/mcp", "scope": "read write"}
}

func (p *idp) sign(t *testing.T, typ string, c map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", p.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func validator(t *testing.T, idps ...*idp) *idjag.Validator {
	t.Helper()
	var list []idjag.TrustedIdP
	for _, p := range idps {
		list = append(list, idjag.TrustedIdP{Issuer: p.iss, Keys: p.keys()})
	}
	v, err := idjag.New(idjag.Options{Audience: aud, IdPs: list, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIDJAG_Accepted(t *testing.T) {
	a := newIdP(t, "https://idp-a.example", "ka")
	c, err := validator(t, a).Validate(context.Background(), a.sign(t, idjag.Type, claims(a.iss)), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Local != "idp:https%3A%2F%2Fidp-a.example#alice" || len(c.Scopes) != 2 || c.Resource[0] != "https://mcp.example/mcp" {
		t.Fatalf("claims %+v", c)
	}
	if c.ReplayKey() != "id-jag:https%3A%2F%2Fidp-a.example:j1" {
		t.Fatal(c.ReplayKey())
	}
}

// TestIDJAG_Refusals pins one refusal per check of draft-ietf-oauth-identity-assertion-authz-grant
// §4.3 / RFC 7523 §3 that the validator owns.
func TestIDJAG_Refusals(t *testing.T) {
	a := newIdP(t, "https://idp-a.example", "ka")
	b := newIdP(t, "https://idp-b.example", "kb")
	untrusted := newIdP(t, "https://evil.example", "ke")
	v := validator(t, a, b)
	with := func(k string, val any) map[string]any { c := claims(a.iss); c[k] = val; return c }
	// b's key under a's kid and issuer: key from another IdP.
	other := &idp{iss: a.iss, kid: "kb", priv: b.priv}
	forged := &idp{iss: a.iss, kid: "ka", priv: b.priv}
	hs := func() string { // HS256 keyed with the IdP's public key bytes
		pub, _ := json.Marshal(jose.JSONWebKey{Key: &a.priv.PublicKey})
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pub},
			(&jose.SignerOptions{}).WithType(idjag.Type).WithHeader("kid", "ka"))
		body, _ := json.Marshal(claims(a.iss))
		j, _ := s.Sign(body)
		out, _ := j.CompactSerialize()
		return out
	}()
	cases := map[string]struct {
		assertion, check string
	}{
		"wrong typ":             {a.sign(t, "JWT", claims(a.iss)), "typ"},
		"untrusted issuer":      {untrusted.sign(t, idjag.Type, claims(untrusted.iss)), "iss"},
		"wrong aud":             {a.sign(t, idjag.Type, with("aud", "https://other.example")), "aud"},
		"expired":               {a.sign(t, idjag.Type, with("exp", now.Add(-time.Hour).Unix())), "expired"},
		"lifetime too long":     {a.sign(t, idjag.Type, with("exp", now.Add(time.Hour).Unix())), "lifetime"},
		"client_id mismatch":    {a.sign(t, idjag.Type, with("client_id", "c2")), "client_id"},
		"missing jti":           {a.sign(t, idjag.Type, with("jti", "")), "jti"},
		"HS256 with public key": {hs, "alg"},
		"key from another IdP":  {other.sign(t, idjag.Type, claims(a.iss)), "kid"},
		"iss of the other IdP":  {a.sign(t, idjag.Type, claims(b.iss)), "kid"},
		"forged signature":      {forged.sign(t, idjag.Type, claims(a.iss)), "signature"},
		"alg none":              {unsignedNone(claims(a.iss)), "alg"},
		"not a JWS":             {"garbage", "JWS"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Validate(context.Background(), tc.assertion, "c1")
			var e *idjag.Error
			if !errors.As(err, &e) || !strings.Contains(e.Check, tc.check) {
				t.Fatalf("err %v, want check containing %q", err, tc.check)
			}
			if tc.assertion != "garbage" && strings.Contains(e.Error(), tc.assertion) {
				t.Fatal("error echoes the assertion")
			}
		})
	}
}

func unsignedNone(c map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": idjag.Type, "kid": "ka"})
	b, _ := json.Marshal(c)
	enc := func(x []byte) string { return base64.RawURLEncoding.EncodeToString(x) }
	return enc(h) + "." + enc(b) + "."
}

// TestIDJAG_IatInFuture pins the iat skew check (draft §4.3: reject assertions not yet valid).
func TestIDJAG_IatInFuture(t *testing.T) {
	a := newIdP(t, "https://idp-a.example", "ka")
	c := claims(a.iss)
	c["iat"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(time.Hour+time.Minute).Unix()
	_, err := validator(t, a).Validate(context.Background(), a.sign(t, idjag.Type, c), "c1")
	var e *idjag.Error
	if !errors.As(err, &e) || !strings.Contains(e.Check, "future") {
		t.Fatalf("err %v", err)
	}
}

// TestIDJAG_DefaultSubjectNamespacedByIssuer: the same sub at two IdPs maps to two local subjects.
func TestIDJAG_DefaultSubjectNamespacedByIssuer(t *testing.T) {
	x, _ := idjag.DefaultSubject(context.Background(), "https://a.example#b", "c")
	y, _ := idjag.DefaultSubject(context.Background(), "https://a.example", "b#c")
	if x == y {
		t.Fatalf("collision: %q", x)
	}
}

// TestIDJAG_NewRefusesSymmetricAlgorithms: "none" and HMAC can never be configured for an IdP.
func TestIDJAG_NewRefusesSymmetricAlgorithms(t *testing.T) {
	a := newIdP(t, "https://idp-a.example", "ka")
	for _, alg := range []string{"none", "HS256"} {
		_, err := idjag.New(idjag.Options{Audience: aud, IdPs: []idjag.TrustedIdP{{Issuer: a.iss, Keys: a.keys(), Algorithms: []string{alg}}}})
		if err == nil {
			t.Fatalf("%s accepted", alg)
		}
	}
}

// TestIDJAG_MapSubjectRefusalKeepsHookErrorOutOfCheck: a MapSubject hook's error is
// reachable for logs (errors.Is) but not in Check, the text a client may read.
func TestIDJAG_MapSubjectRefusalKeepsHookErrorOutOfCheck(t *testing.T) {
	a := newIdP(t, "https://idp-a.example", "ka")
	internal := errors.New("directory db at 10.0.0.7 unreachable")
	v, err := idjag.New(idjag.Options{Audience: aud, Now: func() time.Time { return now },
		IdPs: []idjag.TrustedIdP{{Issuer: a.iss, Keys: a.keys(),
			MapSubject: func(context.Context, string, string) (string, error) { return "", internal }}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Validate(context.Background(), a.sign(t, idjag.Type, claims(a.iss)), "c1")
	var e *idjag.Error
	if !errors.As(err, &e) || e.Check != "subject is not mapped" || !errors.Is(err, internal) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(e.Error(), "10.0.0.7") {
		t.Fatalf("the hook's error leaked into the refusal text: %q", e.Error())
	}
}

// TestIDJAG_JWKSURLThroughTheSSRFGuard: an IdP's JWKS URL is fetched through the SSRF
// guard. A key set on loopback is never requested by default (the assertion is refused,
// the server sees nothing); with the test hook AllowAddress it is fetched and verifies.
func TestIDJAG_JWKSURLThroughTheSSRFGuard(t *testing.T) {
	a := newIdP(t, "https://idp-a.example", "ka")
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		k := a.keys()["ka"]
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{*k}})
	}))
	defer srv.Close()
	newValidator := func(allow func(netip.Addr) bool) *idjag.Validator {
		v, err := idjag.New(idjag.Options{Audience: aud, Now: func() time.Time { return now }, AllowAddress: allow,
			IdPs: []idjag.TrustedIdP{{Issuer: a.iss, JWKSURL: srv.URL + "/jwks.json"}}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	assertion := a.sign(t, idjag.Type, claims(a.iss))
	if _, err := newValidator(nil).Validate(t.Context(), assertion, "c1"); err == nil || hits.Load() != 0 {
		t.Fatalf("loopback JWKS without the hook: err %v, %d requests; want a refusal and none", err, hits.Load())
	}
	if _, err := newValidator(func(a netip.Addr) bool { return a.IsLoopback() }).Validate(t.Context(), assertion, "c1"); err != nil || hits.Load() != 1 {
		t.Fatalf("loopback JWKS with the hook: err %v, %d requests; want acceptance after one", err, hits.Load())
	}
}
