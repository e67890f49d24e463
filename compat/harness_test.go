package compat_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// The protected resource's scopes. DefaultScopes is scopeRead.
const (
	scopeRead  = "tools:read"
	scopeWrite = "tools:write"
	scopeAdmin = "admin"
	subject    = "alice"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is teststack's full server (mcp.New) with the compat options under test:
// issuer {origin}/oauth (a path, as for LegacyEndpoints), one MCP resource at
// {origin}/mcp (MCPURL) answering the verified identity behind Protect, every login
// auto-approved for subject.
type stack struct {
	*teststack.Stack
	t    *testing.T
	http *http.Client // never follows redirects
}

// option edits the stack's options before it starts.
type option func(o *teststack.Options)

func newStack(t *testing.T, store *gormstore.Store, opts compat.Options, edits ...option) *stack {
	t.Helper()
	o := teststack.Options{
		Store:   store,
		Subject: subject,
		Resources: []resourceserver.Resource{{
			URL: teststack.Origin + "/mcp", Name: "Tools",
			Scopes: []string{scopeRead, scopeWrite, scopeAdmin}, DefaultScopes: []string{scopeRead},
		}},
		Compat:  &opts,
		Handler: http.HandlerFunc(whoami),
		Logger:  quiet,
	}
	for _, e := range edits {
		e(&o)
	}
	return &stack{Stack: teststack.Start(t, o), t: t, http: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

// whoami answers the verified identity.
func whoami(w http.ResponseWriter, r *http.Request) {
	tok, _ := resourceserver.TokenFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tok)
}

// withOff returns Default with the shims edit switches off.
func withOff(edit func(o *compat.Options)) compat.Options {
	o := compat.Default()
	edit(&o)
	return o
}

// modes runs fn with the shim on (compat.Default) and off (Default with only that shim
// off), each on SQLite and PostgreSQL.
func modes(t *testing.T, off func(o *compat.Options), fn func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool)) {
	t.Helper()
	for _, m := range []struct {
		name string
		opts compat.Options
		on   bool
	}{{"shim_on", compat.Default(), true}, {"shim_off", withOff(off), false}} {
		t.Run(m.name, func(t *testing.T) {
			gormtest.Run(t, func(t *testing.T, store *gormstore.Store) { fn(t, store, m.opts, m.on) })
		})
	}
}

// testdata returns the body of a recorded or reconstructed request (see testdata/README.md).
func testdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// registration is an RFC 7591 response (or error).
type registration struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	ClientName              string   `json:"client_name"`
	GrantTypes              []string `json:"grant_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Error                   string   `json:"error"`
}

// register posts a registration request to endpoint (default: the issuer's).
func (s *stack) register(body string, endpoint ...string) (int, registration) {
	s.t.Helper()
	ep := s.Issuer + "/register"
	if len(endpoint) > 0 {
		ep = endpoint[0]
	}
	resp, err := s.http.Post(ep, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r registration
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &r)
	return resp.StatusCode, r
}

// mustRegister registers body and returns the client ID.
func (s *stack) mustRegister(body string) registration {
	s.t.Helper()
	status, r := s.register(body)
	if status != http.StatusCreated || r.ClientID == "" {
		s.t.Fatalf("registration: %d %+v", status, r)
	}
	return r
}

// pkce returns a fresh RFC 7636 verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = oauth2.GenerateVerifier()
	return verifier, oauth2.S256ChallengeFromVerifier(verifier)
}

// authorizeAt sends an authorization request to endpoint and returns the response
// (never followed).
func (s *stack) authorizeAt(endpoint string, q url.Values) *http.Response {
	s.t.Helper()
	resp, err := s.http.Get(endpoint + "?" + q.Encode())
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// authorize sends q to the authorization endpoint and returns the redirect to the client
// (auto-approved), failing when there is none.
func (s *stack) authorize(q url.Values) url.Values {
	s.t.Helper()
	resp := s.authorizeAt(s.Issuer+"/authorize", q)
	return redirectQuery(s.t, resp)
}

func redirectQuery(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.String() == "" {
		t.Fatalf("authorization response %d, Location %q; want a redirect to the client", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

// tokenResponse is a token endpoint response (or RFC 6749 §5.2 error).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// token posts form to endpoint (default: the issuer's token endpoint).
func (s *stack) token(form url.Values, endpoint ...string) (int, tokenResponse) {
	s.t.Helper()
	ep := s.Issuer + "/token"
	if len(endpoint) > 0 {
		ep = endpoint[0]
	}
	resp, err := s.http.PostForm(ep, form)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &tr); err != nil {
		s.t.Fatalf("token response %d %q: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, tr
}

// tokenNoFatal posts form to the token endpoint from any goroutine (errors are reported,
// not fatal).
func (s *stack) tokenNoFatal(form url.Values) (int, tokenResponse) {
	resp, err := s.http.PostForm(s.Issuer+"/token", form)
	if err != nil {
		s.t.Error(err)
		return 0, tokenResponse{}
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		s.t.Error(err)
	}
	return resp.StatusCode, tr
}

// mustToken posts form and fails unless tokens come back.
func (s *stack) mustToken(form url.Values) tokenResponse {
	s.t.Helper()
	status, tr := s.token(form)
	if status != http.StatusOK || tr.AccessToken == "" {
		s.t.Fatalf("token request: %d %+v", status, tr)
	}
	return tr
}

// call calls the MCP resource at u (default: s.MCPURL) with an access token and
// returns the status and the verified identity.
func (s *stack) call(accessToken string, u ...string) (int, provider.AccessToken) {
	s.t.Helper()
	target := s.MCPURL
	if len(u) > 0 {
		target = u[0]
	}
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var at provider.AccessToken
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&at)
	}
	return resp.StatusCode, at
}

// login is a public client's whole authorization code flow with the given authorization
// and token parameters (PKCE, client_id and code added); it returns the token response.
func (s *stack) login(clientID, redirect string, authz, tokenExtra url.Values) tokenResponse {
	s.t.Helper()
	verifier, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range authz {
		q[k] = v
	}
	got := s.authorize(q)
	if got.Get("code") == "" {
		s.t.Fatalf("authorization refused: %v", got)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {redirect}, "client_id": {clientID}}
	for k, v := range tokenExtra {
		form[k] = v
	}
	return s.mustToken(form)
}

func equalStrings(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
