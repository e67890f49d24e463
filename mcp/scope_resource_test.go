package mcp_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// twoResources configures resource A (/mcp: files:read, files:delete) and resource B
// (/admin: files).
func twoResources(c *mcp.Config) {
	base := strings.TrimSuffix(c.Resources[0].URL, "/mcp")
	c.Resources = []resourceserver.Resource{
		{URL: base + "/mcp", Name: "A", Scopes: []string{"files:read", "files:delete"}, DefaultScopes: []string{"files:read"}},
		{URL: base + "/admin", Name: "B", Scopes: []string{"files"}},
	}
	c.DefaultResource = base + "/mcp"
}

// loginForScope registers a public client (registered for every supported scope), asks for scope
// on resource and returns the authorization response's query (code or error) and, with a
// code, the granted token's scopes.
func loginForScope(t *testing.T, base string, auth *mcp.Server, scope, resource string) (url.Values, []string) {
	t.Helper()
	g := newGrantFlow(t, base)
	got := g.authorize(scope, resource)
	if got.Get("code") == "" {
		return got, nil
	}
	tok := g.token(url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")},
		"code_verifier": {narrowVerifier}, "redirect_uri": {"http://127.0.0.1/cb"}, "resource": {resource}})
	if tok.Status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d %q", tok.Status, tok.Error)
	}
	at, err := auth.VerifyAccessToken(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(at.Audience) != 1 || !resourceserver.SameResource(at.Audience[0], resource) {
		t.Fatalf("audience %v, want %s", at.Audience, resource)
	}
	return got, at.Scopes
}

// RFC 8707 §2 / RFC 6749 §3.3: a token for resource A carries only scopes A defines (and
// the global ones: offline_access, provider.Config.Scopes). Before, scopes were checked against the union of every resource's
// scopes, so scope=files&resource=A gave A's token B's "files", which under the hierarchy
// rule satisfies A's "files:delete". With FilterUnknownScopes (compat.Default) the foreign
// scope is dropped; without it (compat.Strict) the request is invalid_scope.
func TestAuthorize_ScopeDefinedOnlyByAnotherResource(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Run("filtered", func(t *testing.T) {
			_, base, auth := newServer(t, store, twoResources)
			a, b := base+"/mcp", base+"/admin"
			for _, c := range []struct {
				scope, resource string
				want            []string
			}{
				{"files", a, []string{"files:read"}}, // all dropped: A's default scopes
				{"files files:delete", a, []string{"files:delete"}},
				{"files", b, []string{"files"}},
				// none left; B has no default scopes, so the client's registered ones B defines
				{"files:read", b, []string{"files"}},
			} {
				got, scopes := loginForScope(t, base, auth, c.scope, c.resource)
				if got.Get("code") == "" || !slices.Equal(scopes, c.want) {
					t.Errorf("scope %q for %s: %v, granted %v, want %v", c.scope, c.resource, got, scopes, c.want)
				}
				if c.resource == a && len(resourceserver.MissingScopes(scopes, []string{"files:delete"})) == 0 && !slices.Contains(c.want, "files:delete") {
					t.Errorf("scope %q: the token for A satisfies files:delete with %v", c.scope, scopes)
				}
			}
		})
		t.Run("strict", func(t *testing.T) {
			_, base, auth := newServer(t, store, twoResources, func(c *mcp.Config) {
				o := compat.Strict()
				c.Compat = &o
				// Seven registrations from one address at once: beyond the default
				// registration limit, which is not what this test is about.
				c.RateLimits = &mcp.RateLimits{Disabled: true}
			})
			a, b := base+"/mcp", base+"/admin"
			for _, c := range []struct {
				scope, resource string
				err             string
				want            []string
			}{
				{"files", a, "invalid_scope", nil},
				{"files:read files", a, "invalid_scope", nil},
				{"files:read", b, "invalid_scope", nil},
				{"nobody-defines-this", a, "invalid_scope", nil},
				{"files:read files:delete", a, "", []string{"files:read", "files:delete"}},
				{"files:read offline_access", a, "", []string{"files:read", "offline_access"}}, // offline_access goes with every resource
				{"files", b, "", []string{"files"}},
			} {
				got, scopes := loginForScope(t, base, auth, c.scope, c.resource)
				if got.Get("error") != c.err || !slices.Equal(scopes, c.want) {
					t.Errorf("scope %q for %s: %v, granted %v; want error %q, scopes %v", c.scope, c.resource, got, scopes, c.err, c.want)
				}
			}
		})
	})
}

// RFC 8707 §2 / RFC 6749 §3.3 for client credentials: a service client allowed B's
// "files" asks for it with resource A. Before, the token for A carried "files", which
// under the scope hierarchy satisfies A's "files:delete", a permission the client was
// never given. Scopes A does not define are dropped (the response's `scope` says what
// was issued); when none remains the request is invalid_scope.
func TestClientCredentials_ScopeDefinedOnlyByAnotherResource(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		_, base, auth := newServer(t, store, twoResources, func(c *mcp.Config) { c.Provider.EnableClientCredentials = true })
		a, b := base+"/mcp", base+"/admin"
		_, secret, err := auth.Provider().CreateClient(t.Context(), provider.ClientSpec{
			ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"files", "files:read"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			scope, resource string
			status          int
			err             string
			want            []string
		}{
			{"files", a, http.StatusBadRequest, "invalid_scope", nil},
			{"files files:read", a, http.StatusOK, "", []string{"files:read"}},
			{"files", b, http.StatusOK, "", []string{"files"}},
			{"files:read", b, http.StatusBadRequest, "invalid_scope", nil},
		} {
			form := url.Values{"grant_type": {"client_credentials"}, "scope": {c.scope}, "resource": {c.resource}}
			req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("svc", url.QueryEscape(secret))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				Scope       string `json:"scope"`
				Error       string `json:"error"`
			}
			err = json.NewDecoder(resp.Body).Decode(&tok)
			resp.Body.Close()
			if err != nil || resp.StatusCode != c.status || tok.Error != c.err {
				t.Errorf("scope %q for %s: %d %+v (%v), want %d %q", c.scope, c.resource, resp.StatusCode, tok, err, c.status, c.err)
				continue
			}
			if c.err != "" {
				continue
			}
			at, err := auth.VerifyAccessToken(t.Context(), tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(at.Scopes, c.want) || tok.Scope != strings.Join(c.want, " ") {
				t.Errorf("scope %q for %s: token scopes %v, response scope %q; want %v", c.scope, c.resource, at.Scopes, tok.Scope, c.want)
			}
			if c.resource == a && len(resourceserver.MissingScopes(at.Scopes, []string{"files:delete"})) == 0 {
				t.Errorf("scope %q: the token for A satisfies files:delete with %v", c.scope, at.Scopes)
			}
		}
	})
}

// A scope of one resource that is a hierarchy ancestor of another resource's scope is
// allowed (tokens for one resource never carry it, see above) but logged at New: a token
// bound to both resources would satisfy the descendant with it.
func TestNew_WarnsCrossResourceScopeAncestor(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	for _, c := range []struct {
		name string
		b    []string
		warn bool
	}{
		{"ancestor in another resource", []string{"files"}, true},
		{"same scope in both", []string{"files:read"}, false},
		{"descendant in another resource", []string{"files:read:meta"}, true},
		{"unrelated", []string{"admin", "filesystem"}, false},
	} {
		var logs strings.Builder
		_, err := mcp.New(t.Context(), mcp.Config{
			Provider: provider.Config{Issuer: "https://as.example", Storage: store, GlobalSecret: []byte("warn-test-global-secret-0123456789ab"),
				AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "", false }},
			Resources: []resourceserver.Resource{
				{URL: "https://rs.example/a", Scopes: []string{"files:read", "files:delete"}},
				{URL: "https://rs.example/b", Scopes: c.b},
			},
			DefaultResource: "https://rs.example/a",
			Logger:          slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), "hierarchy ancestor"); got != c.warn {
			t.Errorf("%s: warned %v, want %v: %s", c.name, got, c.warn, logs.String())
		}
	}
}
