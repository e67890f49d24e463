package mcp_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// as is a real authorization server (provider over a real store) on loopback HTTP that
// approves every request, for minting real tokens.
type as struct {
	t        *testing.T
	p        *provider.Provider
	srv      *httptest.Server
	issuer   string
	client   *provider.Client
	redirect string
	http     *http.Client
}

var asScopes = []string{"files", "files:read", "files:write", "admin"}

// newAS starts a provider for resources on store s; edit may change the config.
func newAS(t *testing.T, s *gormstore.Store, resources []string, edit func(*provider.Config)) *as {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	a := &as{t: t, srv: srv, issuer: "http://" + srv.Listener.Addr().String() + "/oauth",
		redirect: "http://127.0.0.1:53682/callback",
		http:     &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	cfg := provider.Config{
		Issuer:       a.issuer,
		Storage:      s,
		GlobalSecret: []byte("mcp-test-global-secret-0123456789abcdef"),
		Scopes:       asScopes,
		Resources:    resources,
		AutoApprove:  func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "alice", true },
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := provider.New(cfg)
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	a.p = p
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	if a.client, _, err = p.CreateClient(context.Background(), provider.ClientSpec{
		Name: "test app", Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"},
	}); err != nil {
		t.Fatal(err)
	}
	return a
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// code runs an auto-approved authorization request with PKCE and returns the code and
// verifier. resource may be empty (no resource parameter).
func (a *as) code(scope, resource string) (code, verifier string) {
	a.t.Helper()
	verifier = oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {a.client.ID}, "redirect_uri": {a.redirect},
		"scope": {scope}, "state": {"state-123456"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	resp, err := a.http.Get(a.issuer + provider.AuthorizePath + "?" + q.Encode())
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		a.t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code"), verifier
}

// tokens runs the authorization code flow and returns the token response.
func (a *as) tokens(scope, resource string) tokens {
	a.t.Helper()
	code, verifier := a.code(scope, resource)
	return a.post(provider.TokenPath, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {a.redirect}, "client_id": {a.client.ID},
	})
}

func (a *as) post(path string, form url.Values) tokens {
	a.t.Helper()
	resp, err := a.http.Post(a.issuer+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	var tok tokens
	_ = json.Unmarshal(body, &tok)
	return tok
}

// revoke revokes a token at the revocation endpoint.
func (a *as) revoke(token string) {
	a.t.Helper()
	a.post(provider.RevocationPath, url.Values{"token": {token}, "client_id": {a.client.ID}})
}
