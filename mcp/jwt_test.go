package mcp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// tokens is a token response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// login registers a public client over DCR and logs it in (the server auto-approves),
// returning the client ID and the tokens.
func login(t *testing.T, base string) (string, tokens) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const redirect = "http://127.0.0.1:4711/cb"
	rr, err := hc.Post(base+"/register", "application/json", strings.NewReader(
		`{"client_name":"t","redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	_ = json.NewDecoder(rr.Body).Decode(&reg)
	rr.Body.Close()
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect}, "state": {"state-123"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "resource": {base + "/mcp"}}
	resp, err := hc.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tr, err := hc.PostForm(base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {reg.ClientID}, "code_verifier": {verifier}, "resource": {base + "/mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Body.Close()
	var tok tokens
	if err := json.NewDecoder(tr.Body).Decode(&tok); err != nil || tr.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", tr.StatusCode, err)
	}
	return reg.ClientID, tok
}

// callMCP calls the protected /mcp endpoint with token and returns the status and the
// identity the handler saw.
func callMCP(t *testing.T, base, token string) (int, provider.AccessToken) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var who provider.AccessToken
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&who)
	}
	return resp.StatusCode, who
}

// RFC 9068 through mcp.New: the access token is an at+jwt JWS whose key is published at
// the advertised jwks_uri, the bearer middleware accepts it (locally), and the documented
// trade-off holds: revocation is seen only with CheckRevocation.
func TestNew_JWTAccessTokens_RFC9068(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		for _, checkRevocation := range []bool{false, true} {
			_, base, auth := newServer(t, store, func(c *mcp.Config) {
				c.JWTAccessTokens = &mcp.JWTAccessTokens{Enabled: true, CheckRevocation: checkRevocation}
			})
			clientID, tok := login(t, base)
			parts := strings.Split(tok.AccessToken, ".")
			if len(parts) != 3 {
				t.Fatalf("access token is not a compact JWS")
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
			var h struct{ Typ, Kid string }
			_ = json.Unmarshal(hdr, &h)
			if h.Typ != "at+jwt" || h.Kid == "" {
				t.Fatalf("JWS header = %s", hdr)
			}
			if tok.ExpiresIn > int((10 * time.Minute).Seconds()) {
				t.Errorf("expires_in = %d; JWT access tokens default to 10 minutes", tok.ExpiresIn)
			}
			var meta provider.AuthorizationServerMetadata
			getDoc(t, base+"/.well-known/oauth-authorization-server", &meta)
			var jwks struct{ Keys []struct{ Kid string } }
			getDoc(t, meta.JWKSURI, &jwks)
			if meta.JWKSURI != base+"/jwks.json" || len(jwks.Keys) == 0 || jwks.Keys[0].Kid != h.Kid {
				t.Fatalf("jwks_uri %q publishes %+v; want kid %s", meta.JWKSURI, jwks, h.Kid)
			}
			status, who := callMCP(t, base, tok.AccessToken)
			if status != http.StatusOK || who.Subject != "alice" || who.ClientID != clientID || len(who.Audience) != 1 || who.Audience[0] != base+"/mcp" {
				t.Fatalf("call: %d %+v", status, who)
			}
			if auth.KeyManager() == nil {
				t.Fatal("KeyManager() = nil with JWT access tokens")
			}
			rv, err := http.PostForm(base+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {clientID}})
			if err != nil {
				t.Fatal(err)
			}
			rv.Body.Close()
			if rv.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d", rv.StatusCode)
			}
			want := http.StatusOK // local verification cannot see revocation before exp
			if checkRevocation {
				want = http.StatusUnauthorized
			}
			if status, _ := callMCP(t, base, tok.AccessToken); status != want {
				t.Errorf("CheckRevocation=%v: revoked token got %d; want %d", checkRevocation, status, want)
			}
		}
	})
}

// getDoc GETs a JSON document.
func getDoc(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
