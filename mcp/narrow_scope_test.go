package mcp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// grantFlow is a public client's authorization for several resources at once.
type grantFlow struct {
	t        *testing.T
	base     string
	clientID string
}

const narrowVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

// newGrantFlow registers a public client (for every supported scope, with refresh tokens).
func newGrantFlow(t *testing.T, base string) *grantFlow {
	t.Helper()
	resp, err := http.Post(base+"/register", "application/json",
		strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reg struct {
		ClientID string `json:"client_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	if resp.StatusCode != http.StatusCreated || reg.ClientID == "" {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	return &grantFlow{t: t, base: base, clientID: reg.ClientID}
}

// authorize asks for scope on resources (auto-approved) and returns the query of the
// redirect to the client: a code, or an error.
func (g *grantFlow) authorize(scope string, resources ...string) url.Values {
	g.t.Helper()
	sum := sha256.Sum256([]byte(narrowVerifier))
	q := url.Values{"client_id": {g.clientID}, "redirect_uri": {"http://127.0.0.1/cb"}, "response_type": {"code"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": resources, "scope": {scope}, "state": {"state-0123456789"}}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(g.base + "/authorize?" + q.Encode())
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Host != "127.0.0.1" {
		g.t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

// code authorizes scope for resources and returns the code.
func (g *grantFlow) code(scope string, resources ...string) string {
	g.t.Helper()
	q := g.authorize(scope, resources...)
	if q.Get("code") == "" {
		g.t.Fatalf("authorize: no code: %v", q)
	}
	return q.Get("code")
}

// tokenReply is the token endpoint's answer.
type tokenReply struct {
	Status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

// token posts form (plus client_id) to the token endpoint.
func (g *grantFlow) token(form url.Values) tokenReply {
	g.t.Helper()
	form.Set("client_id", g.clientID)
	resp, err := http.PostForm(g.base+"/token", form)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r tokenReply
	_ = json.NewDecoder(resp.Body).Decode(&r)
	r.Status = resp.StatusCode
	return r
}

// Issue 14 finding 6: a grant for resources A and B, narrowed to A with `resource` at
// code exchange or refresh, gave A's token B's scope "files", which satisfies A's
// "files:delete" under the scope hierarchy. The narrowed access token now carries only
// A's scopes; the refresh token keeps the whole grant, so a refresh without `resource`
// gets both resources and every scope again (RFC 8707 §2.2).
func TestIssue14Finding6_NarrowedAudienceNarrowsScopes(t *testing.T) {
	for _, jwt := range []bool{false, true} {
		name := "opaque"
		if jwt {
			name = "jwt"
		}
		t.Run(name, func(t *testing.T) { testNarrowedAudienceNarrowsScopes(t, jwt) })
	}
}

func testNarrowedAudienceNarrowsScopes(t *testing.T, jwt bool) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		_, base, auth := newServer(t, store, twoResources, func(c *mcp.Config) {
			if jwt {
				c.JWTAccessTokens = &mcp.JWTAccessTokens{Enabled: true}
			}
		})
		a, b := base+"/mcp", base+"/admin"
		g := newGrantFlow(t, base)
		check := func(step string, r tokenReply, wantAud []string, wantScopes []string) {
			t.Helper()
			if r.Status != http.StatusOK || r.AccessToken == "" {
				t.Fatalf("%s: token %d %q", step, r.Status, r.Error)
			}
			at, err := auth.VerifyAccessToken(context.Background(), r.AccessToken)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if !slices.Equal(at.Audience, wantAud) || !slices.Equal(at.Scopes, wantScopes) {
				t.Errorf("%s: audience %v scopes %v; want %v %v", step, at.Audience, at.Scopes, wantAud, wantScopes)
			}
			if got := strings.Join(wantScopes, " "); r.Scope != got {
				t.Errorf("%s: response scope %q, want %q", step, r.Scope, got)
			}
			if slices.Equal(at.Audience, []string{a}) && resourceserver.MissingScopes(at.Scopes, []string{"files:delete"}) == nil {
				t.Errorf("%s: the token for A satisfies A's files:delete with %v", step, at.Scopes)
			}
		}

		// Code exchange narrowed to A.
		code := g.code("files:read files", a, b)
		tok := g.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {narrowVerifier},
			"redirect_uri": {"http://127.0.0.1/cb"}, "resource": {a}})
		check("code exchange for A", tok, []string{a}, []string{"files:read"})

		// Refresh narrowed to A, then to B, then the whole grant.
		tok = g.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {a}})
		check("refresh for A", tok, []string{a}, []string{"files:read"})
		tok = g.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {b}})
		check("refresh for B", tok, []string{b}, []string{"files"})
		tok = g.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		check("refresh without resource", tok, []string{a, b}, []string{"files:read", "files"})

		// A scope of the grant that the narrowed resource does not define is invalid_scope,
		// and the refresh token survives it.
		bad := g.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {a}, "scope": {"files"}})
		if bad.Status != http.StatusBadRequest || bad.Error != "invalid_scope" {
			t.Errorf("scope files for A: %d %q, want 400 invalid_scope", bad.Status, bad.Error)
		}
		tok = g.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {b}, "scope": {"files"}})
		check("refresh for B with scope files", tok, []string{b}, []string{"files"})

		// Code exchange narrowed to B.
		code = g.code("files:read files", a, b)
		tok = g.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {narrowVerifier},
			"redirect_uri": {"http://127.0.0.1/cb"}, "resource": {b}})
		check("code exchange for B", tok, []string{b}, []string{"files"})
		tok = g.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		check("refresh after B's exchange", tok, []string{a, b}, []string{"files:read", "files"})
	})
}
