package mcp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestNew_RFC7662_4_SelfRegisteredClientCannotIntrospect pins RFC 7662 §4 through mcp.New
// with open dynamic client registration: anyone can register a confidential client, so such
// a client must not introspect other clients' access or refresh tokens (they would reveal
// the user, scopes and audience, and whether a stolen token still works). A client the
// operator created (a resource server's credentials) still can.
func TestNew_RFC7662_4_SelfRegisteredClientCannotIntrospect(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		stack := teststack.Start(t, teststack.Options{
			Store:      s,
			RootIssuer: true,
			Subject:    "alice",
			Resources:  []resourceserver.Resource{{URL: teststack.Origin + "/mcp", Name: "T", Scopes: []string{"tools"}, DefaultScopes: []string{"tools"}}},
		})
		base, auth := stack.Base, stack.Server
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(path string, form url.Values, id, secret string) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if id != "" {
				req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			b, _ := io.ReadAll(resp.Body)
			_ = json.Unmarshal(b, &m)
			return resp.StatusCode, m
		}
		register := func(body string) map[string]any {
			t.Helper()
			resp, err := http.Post(base+"/register", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("register: %d %v", resp.StatusCode, m)
			}
			return m
		}

		// The victim logs in with a public client.
		victim := register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`)
		vid := victim["client_id"].(string)
		const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"client_id": {vid}, "redirect_uri": {"http://127.0.0.1:5555/cb"}, "response_type": {"code"}, "state": {"state-1234"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "resource": {base + "/mcp"}}
		resp, err := noRedirect.Get(base + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		st, tok := post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
			"redirect_uri": {"http://127.0.0.1:5555/cb"}, "client_id": {vid}}, "", "")
		if st != http.StatusOK {
			t.Fatalf("token: %d %v", st, tok)
		}

		// Anyone registers a confidential client and tries to introspect the victim's tokens.
		attacker := register(`{"redirect_uris":["https://attacker.example/cb"]}`)
		aid, asecret := attacker["client_id"].(string), attacker["client_secret"].(string)
		if asecret == "" {
			t.Fatal("the registration gave no client secret: not a confidential client")
		}
		for _, k := range []string{"access_token", "refresh_token"} {
			st, m := post("/introspect", url.Values{"token": {tok[k].(string)}}, aid, asecret)
			if st == http.StatusOK && m["active"] == true {
				t.Errorf("%s of another client introspected by a self-registered client: %v", k, m)
			}
			if st != http.StatusForbidden || m["error"] != "unauthorized_client" {
				t.Errorf("%s introspected by a self-registered client: %d %v; want 403 unauthorized_client", k, st, m)
			}
		}

		// The operator's resource server may introspect the access token.
		rs, secret, err := auth.Provider().CreateClient(context.Background(), provider.ClientSpec{ID: "resource-server", RedirectURIs: []string{"https://rs.example/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		if st, m := post("/introspect", url.Values{"token": {tok["access_token"].(string)}}, rs.ID, secret); st != http.StatusOK || m["active"] != true || m["client_id"] != vid {
			t.Errorf("access token introspected by the operator's client: %d %v; want active", st, m)
		}
	})
}
