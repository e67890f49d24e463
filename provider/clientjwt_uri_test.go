package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// jwksServer is an HTTPS server on loopback publishing a client's key set at /jwks.json,
// whose keys, status and size the test changes, counting the fetches.
type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int64

	mu     sync.Mutex
	keys   []jose.JSONWebKey
	status int // 0: 200
	pad    int // bytes of padding added to the document
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	j := &jwksServer{}
	j.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		keys, status, pad := j.keys, j.status, j.pad
		j.mu.Unlock()
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/jwks.json", http.StatusFound)
			return
		}
		if status != 0 {
			http.Error(w, "down", status)
			return
		}
		doc := map[string]interface{}{"keys": keys}
		if pad > 0 {
			doc["padding"] = strings.Repeat("x", pad)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) set(f func(j *jwksServer)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(j)
}

func (j *jwksServer) url() string { return j.srv.URL + "/jwks.json" }

func (j *jwksServer) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(j.srv.Certificate())
	return pool
}

// fakeClock is the key sets' clock, moved by the test.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// withClientKeys sets Config.ClientKeys to RemoteKeySets trusting j, admitting loopback
// (the SSRF guard's test hook) and on clock.
func withClientKeys(t *testing.T, j *jwksServer, clock *fakeClock, mod func(*jwtaccess.RemoteKeySetsConfig)) envOption {
	return func(_ *env, cfg *provider.Config) {
		kc := jwtaccess.RemoteKeySetsConfig{
			RootCAs: j.roots(), AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() },
			Logger: cfg.Logger, Now: clock.now,
		}
		if mod != nil {
			mod(&kc)
		}
		ks, err := jwtaccess.NewRemoteKeySets(kc)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ClientKeys = ks
	}
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// createURIClient creates the static private_key_jwt client id with jwks_uri u.
func createURIClient(t *testing.T, p *provider.Provider, id, u string) {
	t.Helper()
	if _, _, err := p.CreateClient(context.Background(), provider.ClientSpec{
		ID: id, GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: u,
	}); err != nil {
		t.Fatal(err)
	}
}

// RFC 7523 §2.2 with RFC 7591 jwks_uri: the keys are fetched from the client's URL and
// cached; after the client rotates its keys, an assertion with the new kid makes the set
// be fetched once more and succeeds; forged kids cause no further fetch until
// MinRefetchInterval has passed; the set is fetched again after RefreshInterval.
func TestRFC7523_JWKSURI_RotationRefreshesOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		j := newJWKSServer(t)
		clock := newFakeClock()
		e := newEnv(t, s, withClientKeys(t, j, clock, nil))
		a, b := ecKey(t), ecKey(t)
		j.set(func(j *jwksServer) { j.keys = []jose.JSONWebKey{{Key: a.Public(), KeyID: "a", Use: "sig"}} })
		createURIClient(t, e.p, "uri", j.url())
		pk := &pkjwtEnv{env: e}
		tokenURL := e.issuer + "/token"
		okWith := func(key *ecdsa.PrivateKey, kid string) {
			t.Helper()
			resp := pk.clientCredentials(sign(t, jose.ES256, key, kid, assertionClaims("uri", tokenURL)), nil)
			tok := decode[tokenResponse](t, resp)
			if resp.StatusCode != http.StatusOK || tok.AccessToken == "" || tok.RefreshToken != "" {
				t.Fatalf("kid %s: status %d, %+v", kid, resp.StatusCode, tok)
			}
		}
		refused := func(key *ecdsa.PrivateKey, kid string) {
			t.Helper()
			wantJSONError(t, pk.clientCredentials(sign(t, jose.ES256, key, kid, assertionClaims("uri", tokenURL)), nil),
				http.StatusUnauthorized, "invalid_client")
		}
		fetches := func(want int64) {
			t.Helper()
			if n := j.fetches.Load(); n != want {
				t.Fatalf("%d fetches, want %d", n, want)
			}
		}

		okWith(a, "a")
		okWith(a, "a")
		fetches(1) // cached

		j.set(func(j *jwksServer) { j.keys = []jose.JSONWebKey{{Key: b.Public(), KeyID: "b", Use: "sig"}} })
		clock.advance(jwtaccess.DefaultRemoteMinRefetch + time.Second)
		okWith(b, "b")
		fetches(2) // the unknown kid refreshed the set once

		for _, kid := range []string{"forged-1", "forged-2", "a"} {
			refused(b, kid)
		}
		refused(a, "a") // the rotated-out key
		fetches(2)      // rate-limited: no fetch for the forged kids

		clock.advance(jwtaccess.DefaultRemoteMinRefetch + time.Second)
		refused(b, "forged-3")
		refused(b, "forged-4")
		fetches(3) // one fetch per MinRefetchInterval

		clock.advance(jwtaccess.DefaultRemoteRefresh)
		okWith(b, "b")
		fetches(4) // RefreshInterval passed
	})
}

// RFC 7523 §3 with keys from a jwks_uri: every rejection of the inline case holds when the
// keys come from the URL (wrong aud, expired, missing exp, replayed jti, unknown kid, alg
// mismatch, none, HS256 with the public key as secret, another client's key, an
// assertion beside a secret), each as invalid_client (or invalid_request for two
// methods), never a 500.
func TestRFC7523_JWKSURI_Rejections(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		j := newJWKSServer(t)
		e := newEnv(t, s, withClientKeys(t, j, newFakeClock(), nil))
		keys := newJWTKeys(t)
		j.set(func(j *jwksServer) {
			j.keys = []jose.JSONWebKey{
				{Key: keys.rsa.Public(), KeyID: "rsa", Use: "sig"},
				{Key: keys.ec.Public(), KeyID: "ec", Algorithm: "ES256"},
			}
		})
		createURIClient(t, e.p, "uri", j.url())
		createPKJWTClients(t, e.p, keys) // "other" owns keys.otherEC, inline
		pk := &pkjwtEnv{env: e, keys: keys}
		tokenURL := e.issuer + "/token"
		ok := func(mod func(c map[string]interface{})) map[string]interface{} {
			c := assertionClaims("uri", tokenURL)
			if mod != nil {
				mod(c)
			}
			return c
		}
		pubDER, _ := x509.MarshalPKIXPublicKey(keys.rsa.Public())
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

		cases := []struct {
			name      string
			assertion string
			extra     url.Values
			status    int
			code      string
		}{
			{name: "wrong aud", assertion: sign(t, jose.ES256, keys.ec, "ec", ok(func(c map[string]interface{}) { c["aud"] = "https://evil.example/token" }))},
			{name: "expired", assertion: sign(t, jose.ES256, keys.ec, "ec", ok(func(c map[string]interface{}) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))},
			{name: "missing exp", assertion: sign(t, jose.ES256, keys.ec, "ec", ok(func(c map[string]interface{}) { delete(c, "exp") }))},
			{name: "unknown kid", assertion: sign(t, jose.ES256, keys.ec, "nope", ok(nil))},
			{name: "no kid", assertion: sign(t, jose.ES256, keys.ec, "", ok(nil))},
			{name: "alg mismatch (PS256 on the ES256 key)", assertion: sign(t, jose.PS256, keys.rsa, "ec", ok(nil))},
			{name: "alg none", assertion: rawJWS(t, map[string]interface{}{"alg": "none", "kid": "rsa"}, ok(nil), func(string) []byte { return nil })},
			{name: "HS256 with the PEM public key as secret", assertion: rawJWS(t, map[string]interface{}{"alg": "HS256", "kid": "rsa"}, ok(nil), hmacSHA256(pemBytes))},
			{name: "key of another client under this client's kid", assertion: sign(t, jose.ES256, keys.otherEC, "ec", ok(nil))},
			{name: "another client's kid", assertion: sign(t, jose.ES256, keys.otherEC, "other-ec", ok(nil))},
			{name: "assertion plus client_secret", assertion: sign(t, jose.ES256, keys.ec, "ec", ok(nil)), extra: url.Values{"client_secret": {"x"}}, status: 400, code: "invalid_request"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.status == 0 {
					c.status, c.code = http.StatusUnauthorized, "invalid_client"
				}
				wantJSONError(t, pk.clientCredentials(c.assertion, c.extra), c.status, c.code)
			})
		}
		t.Run("replayed jti", func(t *testing.T) {
			a := sign(t, jose.ES256, keys.ec, "ec", ok(nil))
			if resp := pk.clientCredentials(a, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("first use: status %d", resp.StatusCode)
			}
			wantJSONError(t, pk.clientCredentials(a, nil), http.StatusUnauthorized, "invalid_client")
		})
	})
}

// A key set that cannot be used fails the client's authentication with invalid_client
// (RFC 6749 §5.2), never a 500 and never a token: a document over the size cap, an error
// status, a redirect (not followed), a server that is gone, and a plain-http URL on a
// host other than loopback. (A loopback host without the SSRF guard's test hook:
// jwtaccess's TestRemoteKeySets_SSRFGuardByDefault.)
func TestRFC7523_JWKSURI_FetchFailuresAreInvalidClient(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		j := newJWKSServer(t)
		key := ecKey(t)
		j.set(func(j *jwksServer) { j.keys = []jose.JSONWebKey{{Key: key.Public(), KeyID: "k"}} })
		gone := httptest.NewTLSServer(http.NotFoundHandler())
		goneURL := gone.URL + "/jwks.json"
		gone.Close()
		e := newEnv(t, s, withClientKeys(t, j, newFakeClock(), func(c *jwtaccess.RemoteKeySetsConfig) { c.MaxBodyBytes = 4 << 10 }))

		createURIClient(t, e.p, "oversized", j.srv.URL+"/big/jwks.json")
		createURIClient(t, e.p, "redirect", j.srv.URL+"/redirect")
		createURIClient(t, e.p, "gone", goneURL)
		// A row written past CreateClient's validation: the fetcher refuses it too.
		if err := s.CreateClient(context.Background(), &provider.Client{
			ID: "plain-http", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: "http://jwks.example/jwks.json",
			GrantTypes: []string{"client_credentials"}, Source: provider.ClientSourceStatic,
		}); err != nil {
			t.Fatal(err)
		}
		try := func(en *env, id string) {
			t.Helper()
			pk := &pkjwtEnv{env: en}
			wantJSONError(t, pk.clientCredentials(sign(t, jose.ES256, key, "k", assertionClaims(id, en.issuer+"/token")), nil),
				http.StatusUnauthorized, "invalid_client")
		}
		t.Run("oversized document", func(t *testing.T) {
			j.set(func(j *jwksServer) { j.pad = 8 << 10 })
			defer j.set(func(j *jwksServer) { j.pad = 0 })
			try(e, "oversized")
		})
		t.Run("error status", func(t *testing.T) {
			j.set(func(j *jwksServer) { j.status = http.StatusInternalServerError })
			defer j.set(func(j *jwksServer) { j.status = 0 })
			createURIClient(t, e.p, "down", j.srv.URL+"/down/jwks.json")
			try(e, "down")
		})
		t.Run("redirect not followed", func(t *testing.T) { try(e, "redirect") })
		t.Run("server gone", func(t *testing.T) { try(e, "gone") })
		t.Run("plain http off loopback", func(t *testing.T) { try(e, "plain-http") })
		t.Run("the same client works once the set is fine", func(t *testing.T) {
			createURIClient(t, e.p, "fine", j.url())
			pk := &pkjwtEnv{env: e}
			if resp := pk.clientCredentials(sign(t, jose.ES256, key, "k", assertionClaims("fine", e.issuer+"/token")), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	})
}

// RFC 7591 §2: a private_key_jwt client has jwks or jwks_uri, not both; jwks_uri is an
// https URL (http only on loopback) without user information or fragment; a jwks_uri
// client needs Config.ClientKeys; other methods take neither.
func TestCreateClient_JWKSURI_RFC7591(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		j := newJWKSServer(t)
		e := newEnv(t, s, withClientKeys(t, j, newFakeClock(), nil))
		bare, err := provider.New(provider.Config{ // no ClientKeys
			Issuer: e.issuer, Storage: s, GlobalSecret: []byte("0123456789abcdef0123456789abcdef-test"),
			Resources: []string{e.resource}, EnableClientCredentials: true,
			AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return testSubject, true },
		})
		if err != nil {
			t.Fatal(err)
		}
		set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ecKey(t).Public(), KeyID: "k"}}}
		spec := func(id, uri string, mod func(*provider.ClientSpec)) provider.ClientSpec {
			sp := provider.ClientSpec{ID: id, GrantTypes: []string{"client_credentials"},
				TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: uri}
			if mod != nil {
				mod(&sp)
			}
			return sp
		}
		bad := []struct {
			name string
			p    *provider.Provider
			spec provider.ClientSpec
		}{
			{"jwks and jwks_uri", e.p, spec("both", j.url(), func(sp *provider.ClientSpec) { sp.JWKS = set })},
			{"http off loopback", e.p, spec("http", "http://client.example/jwks.json", nil)},
			{"relative", e.p, spec("rel", "/jwks.json", nil)},
			{"user information", e.p, spec("user", "https://u:p@client.example/jwks.json", nil)},
			{"fragment", e.p, spec("frag", "https://client.example/jwks.json#k", nil)},
			{"bad pinned alg", e.p, spec("alg", "https://client.example/jwks.json", func(sp *provider.ClientSpec) { sp.TokenEndpointAuthSigningAlg = "HS256" })},
			{"secret client with jwks_uri", e.p, spec("secret", "https://client.example/jwks.json", func(sp *provider.ClientSpec) { sp.TokenEndpointAuthMethod = "" })},
			{"no Config.ClientKeys", bare, spec("nokeys", "https://client.example/jwks.json", nil)},
		}
		for _, c := range bad {
			if _, _, err := c.p.CreateClient(context.Background(), c.spec); err == nil {
				t.Errorf("%s: CreateClient accepted %+v", c.name, c.spec)
			}
		}
		good, _, err := e.p.CreateClient(context.Background(), spec("good", "http://127.0.0.1:1/jwks.json", nil))
		if err != nil || good.JWKSURI != "http://127.0.0.1:1/jwks.json" || good.JWKS != nil {
			t.Fatalf("loopback http jwks_uri: %+v, %v", good, err)
		}
	})
}
