package mcp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// newServer starts teststack's full server (mcp.New) on loopback, issuer at the origin,
// with one resource at /mcp whose handler reports the verified identity.
func newServer(t *testing.T, store *gormstore.Store, edit ...func(*mcp.Config)) (*httptest.Server, string, *mcp.Server) {
	t.Helper()
	st := teststack.Start(t, teststack.Options{
		Store:      store,
		RootIssuer: true,
		Subject:    "alice",
		Resources:  []resourceserver.Resource{{URL: teststack.Origin + "/mcp", Name: "Test", Scopes: []string{"tools", "admin"}, DefaultScopes: []string{"tools"}}},
		MCP: func(_ *teststack.Stack, cfg *mcp.Config) {
			for _, e := range edit {
				e(cfg)
			}
		},
	})
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := resourceserver.TokenFromContext(r.Context())
		_ = json.NewEncoder(w).Encode(tok)
	})
	if err := st.Mount(st.Base+"/mcp", whoami); err != nil {
		t.Fatal(err)
	}
	return st.HTTP, st.Base, st.Server
}

// The whole MCP discovery and login, as a client that sends neither scope nor resource
// (Claude Code) does it under compat.Default: 401 → PRM → AS metadata → DCR →
// authorize → token → call.
func TestNew_DiscoveryRegistrationLogin(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		_, base, _ := newServer(t, store)
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		getJSON := func(u string, v any) *http.Response {
			t.Helper()
			resp, err := hc.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if v != nil {
				if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
					t.Fatalf("GET %s: %v", u, err)
				}
			}
			return resp
		}
		resp := getJSON(base+"/mcp", nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="`+base+`/.well-known/oauth-protected-resource/mcp"`) {
			t.Fatalf("unauthenticated call: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		var prm resourceserver.ProtectedResourceMetadata
		getJSON(base+"/.well-known/oauth-protected-resource/mcp", &prm)
		if prm.Resource != base+"/mcp" || len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != base {
			t.Fatalf("PRM = %+v", prm)
		}
		var meta provider.AuthorizationServerMetadata
		getJSON(base+"/.well-known/oauth-authorization-server", &meta)
		if meta.RegistrationEndpoint != base+"/register" {
			t.Fatalf("registration_endpoint = %q", meta.RegistrationEndpoint)
		}
		redirect := "http://localhost/callback"
		body := `{"client_name":"cc","redirect_uris":["` + redirect + `"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`
		rr, err := hc.Post(meta.RegistrationEndpoint, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var reg struct {
			ClientID string `json:"client_id"`
		}
		_ = json.NewDecoder(rr.Body).Decode(&reg)
		rr.Body.Close()
		if rr.StatusCode != http.StatusCreated || reg.ClientID == "" {
			t.Fatalf("DCR: %d", rr.StatusCode)
		}
		verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
		sum := sha256.Sum256([]byte(verifier))
		// Claude Code returns on an ephemeral port of the registered localhost URI.
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {"http://localhost:49152/callback"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		resp = getJSON(meta.AuthorizationEndpoint+"?"+q.Encode(), nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if loc.Query().Get("iss") != base {
			t.Errorf("iss = %q", loc.Query().Get("iss"))
		}
		tr, err := hc.PostForm(meta.TokenEndpoint, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {"http://localhost:49152/callback"}, "client_id": {reg.ClientID}, "code_verifier": {verifier}})
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
		}
		_ = json.NewDecoder(tr.Body).Decode(&tok)
		tr.Body.Close()
		if tr.StatusCode != http.StatusOK || tok.AccessToken == "" || tok.RefreshToken == "" || tok.Scope != "tools" {
			t.Fatalf("token: %d scope=%q refresh=%v", tr.StatusCode, tok.Scope, tok.RefreshToken != "")
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		cr, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var who provider.AccessToken
		_ = json.NewDecoder(cr.Body).Decode(&who)
		cr.Body.Close()
		if cr.StatusCode != http.StatusOK || who.Subject != "alice" || who.ClientID != reg.ClientID || len(who.Audience) != 1 || who.Audience[0] != base+"/mcp" {
			t.Fatalf("call: %d %+v", cr.StatusCode, who)
		}
	})
}

// RFC 9728 §2 / RFC 6750 §3: Protect refuses to guard a resource the server does not
// serve, or with a scope that is not an RFC 6749 §3.3 scope token, at wiring time with an
// error rather than handing back a handler that answers every request with 500.
func TestProtect_RefusesMisconfigurationAtStartUp(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		_, base, auth := newServer(t, store)
		next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
		for name, call := range map[string]func() (http.Handler, error){
			"unknown resource": func() (http.Handler, error) { return auth.Protect(base+"/elsewhere", next) },
			"bad scope token":  func() (http.Handler, error) { return auth.Protect(base+"/mcp", next, "two words") },
		} {
			if h, err := call(); err == nil || h != nil {
				t.Errorf("%s: Protect = (%v, %v), want (nil, error)", name, h, err)
			}
		}
		if h, err := auth.Protect(base+"/mcp", next, "tools"); err != nil || h == nil {
			t.Fatalf("Protect(served resource) = (%v, %v)", h, err)
		}
	})
}
