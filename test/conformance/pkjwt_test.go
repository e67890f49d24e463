package conformance_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/conformance"
)

// pkjwtChecks are the suite's private_key_jwt checks.
var pkjwtChecks = []string{"PKJWT-META", "PKJWT-ACCEPTED", "PKJWT-NO-REFRESH", "PKJWT-WRONG-AUD", "PKJWT-EXPIRED", "PKJWT-REPLAY"}

// assertionClient creates the machine-to-machine client an operator gives a service: a
// static private_key_jwt client with the client_credentials grant, its P-256 public key
// inline (jwksURI empty) or published at jwksURI (jwks must then serve key's public half
// under kid "m2m").
func assertionClient(t *testing.T, st *teststack.Stack, key *ecdsa.PrivateKey, jwksURI string) *conformance.AssertionClient {
	t.Helper()
	spec := provider.ClientSpec{
		Name: "conformance m2m", GrantTypes: []string{"client_credentials"},
		TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: jwksURI,
	}
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	if jwksURI == "" {
		spec.JWKS = &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "m2m", Use: "sig"}}}
	}
	c, _, err := st.Server.Provider().CreateClient(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return &conformance.AssertionClient{ID: c.ID, Key: key, KeyID: "m2m"}
}

// jwksHost is an HTTPS server on loopback publishing a client's public key under kid
// "m2m" at /jwks.json.
func jwksHost(t *testing.T, key *ecdsa.PrivateKey) (url string, keySets *jwtaccess.RemoteKeySetsConfig) {
	t.Helper()
	doc, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "m2m", Use: "sig"}}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	// The SSRF guard refuses loopback; the test admits it (the documented test hook).
	return srv.URL + "/jwks.json", &jwtaccess.RemoteKeySetsConfig{
		RootCAs: roots, AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() },
	}
}

// pkjwtHandler is an MCP client's auth.OAuthHandler for a machine-to-machine client
// with private_key_jwt, written for the test (go-sdk v1.8.0's client credentials handler
// supports client secrets only): on a 401 it discovers the protected resource metadata
// (RFC 9728) and the authorization server metadata (RFC 8414), then asks the token
// endpoint for a client_credentials token for the MCP resource (RFC 8707), authenticated
// with an RFC 7523 assertion.
type pkjwtHandler struct {
	client *conformance.AssertionClient
	key    *ecdsa.PrivateKey
	hc     *http.Client
	token  *oauth2.Token
	raw    map[string]any // the token response
}

var _ auth.OAuthHandler = (*pkjwtHandler)(nil)

func (h *pkjwtHandler) TokenSource(context.Context) (oauth2.TokenSource, error) {
	if h.token == nil {
		return nil, nil
	}
	return oauth2.StaticTokenSource(h.token), nil
}

func (h *pkjwtHandler) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	defer resp.Body.Close()
	challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(challenges) == 0 {
		return fmt.Errorf("no challenge: %v", err)
	}
	prmURL := challenges[0].Params["resource_metadata"]
	resource := req.URL.String()
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, prmURL, resource, h.hc)
	if err != nil {
		return err
	}
	asm, err := auth.GetAuthServerMetadata(ctx, prm.AuthorizationServers[0], h.hc)
	if err != nil {
		return err
	}
	if !slices.Contains(asm.TokenEndpointAuthMethodsSupported, "private_key_jwt") {
		return errors.New("the authorization server does not offer private_key_jwt")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: h.key, KeyID: h.client.KeyID}}, nil)
	if err != nil {
		return err
	}
	now := time.Now()
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: h.client.ID, Subject: h.client.ID, Audience: jwt.Audience{asm.TokenEndpoint}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).CompactSerialize()
	if err != nil {
		return err
	}
	form := url.Values{
		"grant_type": {"client_credentials"}, "resource": {prm.Resource}, "scope": {strings.Join(prm.ScopesSupported, " ")},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
	}
	tr, err := h.hc.PostForm(asm.TokenEndpoint, form)
	if err != nil {
		return err
	}
	defer tr.Body.Close()
	body, _ := io.ReadAll(tr.Body)
	if tr.StatusCode != http.StatusOK {
		return fmt.Errorf("token endpoint: %d %s", tr.StatusCode, body)
	}
	if err := json.Unmarshal(body, &h.raw); err != nil {
		return err
	}
	access, _ := h.raw["access_token"].(string)
	h.token = &oauth2.Token{AccessToken: access, TokenType: "Bearer"}
	return nil
}

// RFC 7523 §2.2 end to end, with the client's keys at a jwks_uri (RFC 7591), on SQLite
// and PostgreSQL: an MCP client (the go-sdk client with a private_key_jwt handler written
// for the test) is challenged by the MCP server, discovers the authorization server,
// gets a client_credentials token bound to the MCP resource with no refresh token, and
// its MCP calls succeed; the suite's private_key_jwt checks pass with that client.
func TestPrivateKeyJWT_EndToEnd_JWKSURI(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwksURI, keySets := jwksHost(t, key)
		st := newStack(t, s, teststack.ConformanceOptions{ClientKeySets: keySets})
		client := assertionClient(t, st, key, jwksURI)

		h := &pkjwtHandler{client: client, key: key, hc: &http.Client{Timeout: 10 * time.Second}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		session, err := sdk.NewClient(&sdk.Implementation{Name: "m2m", Version: "1"}, nil).Connect(ctx,
			&sdk.StreamableClientTransport{Endpoint: st.MCPURL, OAuthHandler: h}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer session.Close()
		if _, err := session.ListTools(ctx, nil); err != nil {
			t.Fatalf("tools/list: %v", err)
		}
		if err := session.Ping(ctx, nil); err != nil {
			t.Fatalf("ping: %v", err)
		}
		if rt, ok := h.raw["refresh_token"]; ok {
			t.Errorf("client_credentials issued a refresh token %v", rt)
		}
		at, err := st.Server.Provider().VerifyAccessToken(ctx, h.token.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if at.ClientID != client.ID || at.Subject != "" || !slices.Equal(at.Audience, []string{st.MCPURL}) {
			t.Errorf("token %+v, want client %s, no subject, audience [%s]", at, client.ID, st.MCPURL)
		}

		rep := runSuite(t, st, conformance.Target{PrivateKeyJWT: client})
		for _, id := range pkjwtChecks {
			if res, _ := rep.Result(id); res.Status != conformance.Pass {
				t.Errorf("%s: %s, want pass: %s %v", id, res.Status, res.Detail, res.Evidence)
			}
		}
	})
}

// The private_key_jwt checks are skipped, with the reason, when no client is configured
// (the metadata check still runs).
func TestConformance_PrivateKeyJWTSkippedWithoutKey(t *testing.T) {
	st := newStack(t, gormtest.Open(t, gormtest.SQLite), teststack.ConformanceOptions{})
	rep := runSuite(t, st, conformance.Target{PrivateKeyJWT: &conformance.AssertionClient{}})
	if res, _ := rep.Result("PKJWT-META"); res.Status != conformance.Pass {
		t.Errorf("PKJWT-META: %s: %s", res.Status, res.Detail)
	}
	for _, id := range pkjwtChecks[1:] {
		if res, _ := rep.Result(id); res.Status != conformance.Skip || !strings.Contains(res.Detail, "-pkjwt-key") {
			t.Errorf("%s: %s %q, want skip naming the flags", id, res.Status, res.Detail)
		}
	}
}
