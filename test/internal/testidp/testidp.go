// Package testidp is a tiny enterprise identity provider for tests and the demo: it has
// its own ECDSA P-256 signing key, publishes it as a JWKS, and signs Identity Assertion
// JWT Authorization Grants (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant) with
// whatever claims and header a test chooses, including the forgeries a resource
// authorization server must refuse (alg none, HS256 keyed with the public key). Its
// Handler serves the JWKS and a token exchange endpoint (RFC 8693) that issues ID-JAGs
// without checking any user credential: it is a test double, never a real IdP.
package testidp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/randid"
	jose "github.com/go-jose/go-jose/v3"
)

// Paths the Handler serves.
const (
	JWKSPath          = "/jwks.json"
	TokenExchangePath = "/token"
)

// TokenTypeIDJAG is the RFC 8693 token type of an ID-JAG.
const TokenTypeIDJAG = "urn:ietf:params:oauth:token-type:id-jag"

// DefaultLifetime is the lifetime of the ID-JAGs Claims prepares.
const DefaultLifetime = 2 * time.Minute

// IdP is a test identity provider: an issuer identifier and a signing key.
type IdP struct {
	// Issuer is the iss of every assertion.
	Issuer string
	// KeyID is the kid of the signing key in the JWKS and the JWS header.
	KeyID string
	key   *ecdsa.PrivateKey
}

// New returns an IdP for issuer with a fresh P-256 key.
func New(issuer string) (*IdP, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newIdP(issuer, k), nil
}

// Start serves a new IdP's Handler on a loopback port for the test's lifetime; the
// issuer is the server's URL, the JWKS at Issuer+JWKSPath. The server is returned so that
// a test can stop it early (an unreachable IdP).
func Start(tb testing.TB) (*IdP, *httptest.Server) {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	idp, err := New("http://" + srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	srv.Config.Handler = idp.Handler()
	srv.Start()
	tb.Cleanup(srv.Close)
	return idp, srv
}

// FromPEM returns an IdP for issuer signing with the P-256 private key in pemKey (PKCS#8
// or SEC 1 "EC PRIVATE KEY"), so that separate processes (the conformance suite and a
// server's JWKS) share one key.
func FromPEM(issuer string, pemKey []byte) (*IdP, error) {
	b, _ := pem.Decode(pemKey)
	if b == nil {
		return nil, errors.New("testidp: no PEM block")
	}
	var k *ecdsa.PrivateKey
	if pk, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		ek, ok := pk.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("testidp: the key is not an ECDSA key")
		}
		k = ek
	} else if k, err = x509.ParseECPrivateKey(b.Bytes); err != nil {
		return nil, fmt.Errorf("testidp: parse key: %w", err)
	}
	if k.Curve != elliptic.P256() {
		return nil, errors.New("testidp: the key is not on P-256")
	}
	return newIdP(issuer, k), nil
}

func newIdP(issuer string, k *ecdsa.PrivateKey) *IdP {
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	sum := sha256.Sum256(pub)
	return &IdP{Issuer: issuer, KeyID: hex.EncodeToString(sum[:8]), key: k}
}

// PrivateKeyPEM returns the signing key as PKCS#8 PEM (for FromPEM).
func (p *IdP) PrivateKeyPEM() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(p.key)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicJWK returns the public signing key as a JWK.
func (p *IdP) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &p.key.PublicKey, KeyID: p.KeyID, Algorithm: "ES256", Use: "sig"}
}

// JWKS returns the JSON Web Key Set document with the public key.
func (p *IdP) JWKS() []byte {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{p.PublicJWK()}})
	return b
}

// Grant describes one ID-JAG: who it is for and what it allows.
type Grant struct {
	// Audience is the resource authorization server's issuer identifier (aud).
	Audience string
	// Subject is sub.
	Subject string
	// ClientID is the client the IdP issued it to (client_id).
	ClientID string
	// Resource is the MCP server's resource identifier; empty leaves the claim out.
	Resource string
	// Scope is the space-separated scope claim; empty leaves it out.
	Scope string
}

// Claims returns the claims of an ID-JAG for g issued now: a random jti, iat now and exp
// DefaultLifetime later. Tests change the map to build bad assertions.
func (p *IdP) Claims(g Grant) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": p.Issuer, "sub": g.Subject, "aud": g.Audience, "client_id": g.ClientID,
		"jti": randomID(), "iat": now.Unix(), "exp": now.Add(DefaultLifetime).Unix(),
	}
	if g.Resource != "" {
		c["resource"] = g.Resource
	}
	if g.Scope != "" {
		c["scope"] = g.Scope
	}
	return c
}

// Issue returns a signed ID-JAG for g.
func (p *IdP) Issue(g Grant) (string, error) {
	return p.Sign(p.Claims(g), Header{})
}

// Header is the JWS header of an assertion; zero fields take the defaults.
type Header struct {
	// Typ defaults to "oauth-id-jag+jwt"; "-" leaves typ out.
	Typ string
	// KeyID defaults to the IdP's kid.
	KeyID string
}

// Sign signs claims with the IdP's key (ES256).
func (p *IdP) Sign(claims map[string]any, h Header) (string, error) {
	typ := h.Typ
	if typ == "" {
		typ = "oauth-id-jag+jwt"
	}
	kid := h.KeyID
	if kid == "" {
		kid = p.KeyID
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "-" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.key}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Unsigned returns claims as an unsecured JWS (alg "none", empty signature): a forgery.
func (p *IdP) Unsigned(claims map[string]any) string {
	return p.forge("none", claims, func([]byte) []byte { return nil })
}

// HS256WithPublicKey returns claims signed with HS256 keyed with the IdP's public key
// (its JWK JSON, its PKIX DER when der is set): the key confusion forgery.
func (p *IdP) HS256WithPublicKey(claims map[string]any, der bool) string {
	key, _ := json.Marshal(p.PublicJWK())
	if der {
		key, _ = x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	}
	return p.forge("HS256", claims, func(input []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(input)
		return m.Sum(nil)
	})
}

func (p *IdP) forge(alg string, claims map[string]any, sign func([]byte) []byte) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "oauth-id-jag+jwt", "kid": p.KeyID})
	c, _ := json.Marshal(claims)
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	return input + "." + enc.EncodeToString(sign([]byte(input)))
}

// Handler serves the JWKS at JWKSPath and an RFC 8693 token exchange endpoint at
// TokenExchangePath: POST grant_type=urn:ietf:params:oauth:grant-type:token-exchange,
// requested_token_type=TokenTypeIDJAG, audience, client_id, subject_token (taken as the
// user's subject as is: there is no sign-in), and optional resource and scope. It answers
// with the ID-JAG in access_token (draft §4.3.4).
func (p *IdP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(p.JWKS())
	})
	mux.HandleFunc(TokenExchangePath, p.exchange)
	return mux
}

func (p *IdP) exchange(w http.ResponseWriter, r *http.Request) {
	fail := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		fail("invalid_request", "POST a form")
		return
	}
	f := r.PostForm
	switch {
	case f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
		fail("unsupported_grant_type", "only token exchange")
		return
	case f.Get("requested_token_type") != TokenTypeIDJAG:
		fail("invalid_request", "requested_token_type must be "+TokenTypeIDJAG)
		return
	case f.Get("audience") == "" || f.Get("client_id") == "" || f.Get("subject_token") == "":
		fail("invalid_request", "audience, client_id and subject_token are required")
		return
	}
	g := Grant{Audience: f.Get("audience"), Subject: f.Get("subject_token"), ClientID: f.Get("client_id"),
		Resource: f.Get("resource"), Scope: strings.Join(strings.Fields(f.Get("scope")), " ")}
	tok, err := p.Issue(g)
	if err != nil {
		fail("server_error", "signing failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	resp := map[string]any{"issued_token_type": TokenTypeIDJAG, "access_token": tok, "token_type": "N_A",
		"expires_in": int(DefaultLifetime / time.Second)}
	if g.Scope != "" {
		resp["scope"] = g.Scope
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// randomID is a fresh jti; the system's random source does not fail on Linux.
func randomID() string {
	id, _ := randid.New(randid.Unique)
	return id
}
