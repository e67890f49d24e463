package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// The RFC 8707 checks the provider's own tests pin (provider/redirect_resource_test.go,
// provider/authorize_test.go) are repeated here only where mcp.New or the MCP endpoints
// add something: the audience a narrowed token carries as the go-sdk MCP endpoints see
// it, and the resource checks under compat.Default's default resource.

// rawClient is a public client (provider.CreateClient) driven by hand over HTTP.
type rawClient struct {
	s  *stack
	id string
}

func newRawClient(t testing.TB, s *stack) *rawClient {
	t.Helper()
	c, _, err := s.Server.Provider().CreateClient(t.Context(), provider.ClientSpec{
		Name: "e2e raw client", RedirectURIs: []string{redirectURI}, Public: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{s: s, id: c.ID}
}

// authorize sends an authorization request (PKCE S256, scope tools) for resources and
// returns the redirect's query and the PKCE verifier; err reports an error redirect.
func (c *rawClient) authorize(t testing.TB, resources ...string) (url.Values, string, error) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {redirectURI}, "state": {"e2e-state"},
		"scope": {scopeTools}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"resource": resources,
	}
	got, err := authorize(t.Context(), c.s.Server.Provider().Metadata().AuthorizationEndpoint+"?"+q.Encode())
	if got == nil && err != nil {
		t.Fatal(err)
	}
	return got, verifier, err
}

// tokenResponse is a token endpoint answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// token posts form (plus client_id) to the token endpoint.
func (c *rawClient) token(t testing.TB, form url.Values) (int, tokenResponse) {
	t.Helper()
	form.Set("client_id", c.id)
	resp, err := http.PostForm(c.s.Server.Provider().Metadata().TokenEndpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, tr
}

// exchange redeems code, asking for resources at the token endpoint.
func (c *rawClient) exchange(t testing.TB, code, verifier string, resources ...string) (int, tokenResponse) {
	t.Helper()
	return c.token(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}, "resource": resources})
}

// refresh uses refreshToken, asking for resources.
func (c *rawClient) refresh(t testing.TB, refreshToken string, resources ...string) (int, tokenResponse) {
	t.Helper()
	return c.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "resource": resources})
}

// initialize opens an MCP session at endpoint with token (go-sdk server) and returns the
// status and the error of the challenge, if any.
func initialize(t testing.TB, endpoint, token string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	challenge := resp.Header.Get("WWW-Authenticate")
	if _, after, ok := strings.Cut(challenge, `error="`); ok {
		challenge, _, _ = strings.Cut(after, `"`)
	}
	return resp.StatusCode, challenge
}

// acceptedOnlyAt fails t unless token opens a session at want and is invalid_token at
// every other endpoint of endpoints.
func acceptedOnlyAt(t testing.TB, token, want string, endpoints ...string) {
	t.Helper()
	for _, e := range endpoints {
		status, challenge := initialize(t, e, token)
		switch {
		case e == want && status != http.StatusOK:
			t.Errorf("%s refused the token: %d %s", e, status, challenge)
		case e != want && (status != http.StatusUnauthorized || challenge != "invalid_token"):
			t.Errorf("%s: %d %q, want 401 invalid_token", e, status, challenge)
		}
	}
}

// RFC 8707 §2.2 at the MCP endpoints: a token request may narrow the authorized
// resources (the token is then accepted only where it was narrowed to), never widen them
// (invalid_target, and the code or refresh token stays usable); a refresh without
// resource (go-sdk) keeps the audience.
func TestRFC8707_NarrowingAndWideningAtTheMCPEndpoints(t *testing.T) {
	t.Parallel()
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Parallel()
		s := newStack(t, store, stackConfig{})
		s.mountGoSDK(t)
		c := newRawClient(t, s)

		// Authorized for both, narrowed at the code exchange, then at the refresh.
		q, verifier, err := c.authorize(t, s.MCPURL, s.OtherURL)
		if err != nil {
			t.Fatal(err)
		}
		status, tok := c.exchange(t, q.Get("code"), verifier, s.MCPURL)
		if status != http.StatusOK {
			t.Fatalf("narrowing exchange: %d %+v", status, tok)
		}
		acceptedOnlyAt(t, tok.AccessToken, s.MCPURL, s.MCPURL, s.OtherURL)
		status, narrowed := c.refresh(t, tok.RefreshToken, s.OtherURL)
		if status != http.StatusOK {
			t.Fatalf("narrowing refresh: %d %+v", status, narrowed)
		}
		acceptedOnlyAt(t, narrowed.AccessToken, s.OtherURL, s.MCPURL, s.OtherURL)

		// Authorized for one: widening, a fragment or an unknown resource at the token
		// endpoint is invalid_target, and the code survives it.
		q, verifier, err = c.authorize(t, s.MCPURL)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range []string{s.OtherURL, s.MCPURL + "#fragment", "https://unregistered.example/mcp"} {
			if status, tr := c.exchange(t, q.Get("code"), verifier, res); status != http.StatusBadRequest || tr.Error != "invalid_target" {
				t.Errorf("exchange for %s: %d %+v", res, status, tr)
			}
		}
		status, tok = c.exchange(t, q.Get("code"), verifier, s.MCPURL)
		if status != http.StatusOK {
			t.Fatalf("exchange after invalid_target: %d %+v", status, tok)
		}
		acceptedOnlyAt(t, tok.AccessToken, s.MCPURL, s.MCPURL, s.OtherURL)
		if status, tr := c.refresh(t, tok.RefreshToken, s.OtherURL); status != http.StatusBadRequest || tr.Error != "invalid_target" {
			t.Errorf("widening refresh: %d %+v", status, tr)
		}
		status, kept := c.refresh(t, tok.RefreshToken) // not rotated by the refused refresh
		if status != http.StatusOK {
			t.Fatalf("refresh without resource after invalid_target: %d %+v", status, kept)
		}
		acceptedOnlyAt(t, kept.AccessToken, s.MCPURL, s.MCPURL, s.OtherURL)
	})
}

// With a single resource, mcp.New's compat.Default binds authorization requests without
// resource to it. That default must not soften the RFC 8707 checks: a resource with a
// fragment, a relative or an unregistered one is still invalid_target on the redirect
// (with RFC 9207 iss), and a fragment at the token endpoint too.
func TestRFC8707_ResourceChecksWithTheDefaultResource(t *testing.T) {
	t.Parallel()
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Parallel()
		s := newStack(t, store, stackConfig{oneResource: true})
		s.mountGoSDK(t)
		c := newRawClient(t, s)
		for _, res := range []string{s.MCPURL + "#fragment", "/mcp", "https://unregistered.example/mcp", strings.TrimSuffix(s.MCPURL, "/mcp") + "/elsewhere"} {
			q, _, err := c.authorize(t, res)
			if err == nil || q.Get("error") != "invalid_target" || q.Get("iss") != s.Issuer || q.Get("state") != "e2e-state" {
				t.Errorf("resource %s: %v %v", res, q, err)
			}
		}
		q, verifier, err := c.authorize(t) // no resource: the default
		if err != nil {
			t.Fatal(err)
		}
		if status, tr := c.exchange(t, q.Get("code"), verifier, s.MCPURL+"#fragment"); status != http.StatusBadRequest || tr.Error != "invalid_target" {
			t.Errorf("exchange for a resource with a fragment: %d %+v", status, tr)
		}
		status, tok := c.exchange(t, q.Get("code"), verifier)
		if status != http.StatusOK {
			t.Fatalf("exchange: %d %+v", status, tok)
		}
		acceptedOnlyAt(t, tok.AccessToken, s.MCPURL, s.MCPURL)
	})
}
