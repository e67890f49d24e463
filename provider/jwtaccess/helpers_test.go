package jwtaccess_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

const (
	testSubject = "user-42"
	redirectURI = "http://127.0.0.1/cb"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a settable clock shared by key managers and verifiers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a provider with JWT access tokens over real HTTP on a real store.
type env struct {
	t        testing.TB
	store    *gormstore.Store
	keys     *jwtaccess.KeyManager
	p        *provider.Provider
	verifier *jwtaccess.Verifier
	srv      *httptest.Server
	issuer   string
	resource string
	http     *http.Client
	public   *provider.Client
	rs       *provider.Client // confidential client for introspection
	rsSecret string
}

type envOptions struct {
	keys     jwtaccess.KeyManagerConfig // Store is filled in
	lifespan time.Duration              // provider AccessTokenLifespan; 0 = jwtaccess default
	opaque   bool                       // no JWT strategy (opaque HMAC tokens)
}

func newEnv(t testing.TB, s *gormstore.Store, o envOptions) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	e := &env{t: t, store: s, srv: srv, issuer: base + "/oauth", resource: base + "/mcp",
		http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	ctx := context.Background()
	lifespan := o.lifespan
	if lifespan == 0 {
		lifespan = jwtaccess.DefaultAccessTokenLifespan
	}
	cfg := provider.Config{
		Issuer:              e.issuer,
		Storage:             s,
		GlobalSecret:        []byte("0123456789abcdef0123456789abcdef-test"),
		Scopes:              []string{"read", "write"},
		Resources:           []string{e.resource},
		AccessTokenLifespan: lifespan,
		AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) {
			return testSubject, true
		},
		EnableClientCredentials: true,
		Logger:                  quietLogger(),
	}
	mux := http.NewServeMux()
	if !o.opaque {
		kc := o.keys
		kc.Store = s
		if kc.Logger == nil {
			kc.Logger = quietLogger()
		}
		keys, err := jwtaccess.NewKeyManager(ctx, kc)
		if err != nil {
			t.Fatalf("NewKeyManager: %v", err)
		}
		e.keys = keys
		cfg.AccessTokenStrategy = keys.AccessTokenStrategy
		cfg.EditMetadata = func(m *provider.AuthorizationServerMetadata) { m.JWKSURI = jwtaccess.JWKSURI(e.issuer) }
		if err := keys.Register(mux, e.issuer); err != nil {
			t.Fatal(err)
		}
		e.verifier, err = jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: e.issuer, Keys: keys, Now: kc.Now})
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := provider.New(cfg)
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	e.p = p
	p.Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	if e.public, _, err = p.CreateClient(ctx, provider.ClientSpec{ID: "public-app", Public: true, RedirectURIs: []string{redirectURI}}); err != nil {
		t.Fatal(err)
	}
	if e.rs, e.rsSecret, err = p.CreateClient(ctx, provider.ClientSpec{ID: "resource-server", GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) postForm(u string, form url.Values, user, pass string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", u, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

func decode[T any](t testing.TB, resp *http.Response) T {
	t.Helper()
	var v T
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
	return v
}

// tokens runs authorize (auto-approved, PKCE) and the code exchange for the public client.
func (e *env) tokens(scope string) tokenResponse {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {e.public.ID}, "redirect_uri": {redirectURI},
		"scope": {scope}, "state": {"state-123"}, "resource": {e.resource},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	resp, err := e.http.Get(e.issuer + "/authorize?" + q.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = e.postForm(e.issuer+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {redirectURI}, "client_id": {e.public.ID},
	}, "", "")
	tok := decode[tokenResponse](e.t, resp)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		e.t.Fatalf("token: %d %+v", resp.StatusCode, tok)
	}
	return tok
}

func (e *env) refresh(rt string) tokenResponse {
	e.t.Helper()
	resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.public.ID}}, "", "")
	tok := decode[tokenResponse](e.t, resp)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		e.t.Fatalf("refresh: %d %+v", resp.StatusCode, tok)
	}
	return tok
}

type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Sub       string   `json:"sub"`
	Aud       []string `json:"aud"`
	Iss       string   `json:"iss"`
	Exp       int64    `json:"exp"`
	Iat       int64    `json:"iat"`
	TokenUse  string   `json:"token_use"`
	TokenType string   `json:"token_type"`
}

func (e *env) introspect(token string) introspection {
	e.t.Helper()
	resp := e.postForm(e.issuer+"/introspect", url.Values{"token": {token}}, e.rs.ID, e.rsSecret)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("introspect: %d %s", resp.StatusCode, body)
	}
	return decode[introspection](e.t, resp)
}

func (e *env) revoke(token string) {
	e.t.Helper()
	resp := e.postForm(e.issuer+"/revoke", url.Values{"token": {token}, "client_id": {e.public.ID}}, "", "")
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
}

// jws is a decoded compact JWS (not verified).
type jws struct {
	header map[string]any
	claims map[string]any
	parts  []string
}

func decodeJWS(t testing.TB, token string) jws {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	var out jws
	out.parts = parts
	for i, dst := range []*map[string]any{&out.header, &out.claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(dst); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	return out
}

func b64json(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// signRaw builds a compact JWS over exactly header and claims, signed with key under alg
// (ES256 with an ECDSA key, RS256 with an RSA key, HS256 with secret bytes, none with nil).
func signRaw(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	input := b64json(header) + "." + b64json(claims)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case nil:
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			t.Fatal(err)
		}
	case []byte:
		sig = hmacSHA256(k, []byte(input))
	default:
		t.Fatalf("signRaw: key %T", key)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// malleate returns the ES256 token with its signature (r, s) replaced by (r, n-s), which is
// also a valid signature of the same input.
func malleate(t testing.TB, token string) string {
	t.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("not an ES256 signature")
	}
	n := new(big.Int).SetBytes([]byte{0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51})
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(n, s)
	out := append(append([]byte{}, sig[:32]...), s.FillBytes(make([]byte, 32))...)
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(out)
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
