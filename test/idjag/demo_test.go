package idjag_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
	"github.com/fosite-mcp/fosite-mcp/test/internal/testidp"
)

var demoBinary *demoproc.Binary

func TestMain(m *testing.M) { os.Exit(demoproc.Main(m, &demoBinary)) }

// TestDemo_TrustIdP: the demo started with -trust-idp ISSUER=JWKS_URL advertises the
// jwt-bearer grant and the id-jag profile (RFC 8414; extension §6); a dynamically
// registered public client gets an ID-JAG from the test IdP's token exchange endpoint
// (RFC 8693), exchanges it, and calls the demo's whoami tool with a go-sdk client as the
// IdP-namespaced user. Without -trust-idp neither is advertised.
func TestDemo_TrustIdP(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		idp, _ := testidp.Start(t)
		d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{DB: db,
			Args: []string{"-rate-limit=false", "-trust-idp", idp.Issuer + "=" + idp.Issuer + testidp.JWKSPath}})
		m, err := d.ASMetadata(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(asJSON(m["grant_types_supported"]), provider.GrantTypeJWTBearer) ||
			asJSON(m["authorization_grant_profiles_supported"]) != `["`+provider.GrantProfileIDJAG+`"]` {
			t.Fatalf("metadata: grant_types_supported %v, authorization_grant_profiles_supported %v",
				m["grant_types_supported"], m["authorization_grant_profiles_supported"])
		}
		// RFC 6749 §5.2: a client presents ID-JAGs only if it registered the jwt-bearer grant.
		clientID := d.RegisterClient(t, map[string]any{"client_name": "Enterprise agent",
			"token_endpoint_auth_method": "none", "grant_types": []string{provider.GrantTypeJWTBearer}})

		// The client asks the IdP for an ID-JAG (RFC 8693 token exchange, draft §4.3).
		resp, err := http.PostForm(idp.Issuer+testidp.TokenExchangePath, url.Values{
			"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"requested_token_type": {testidp.TokenTypeIDJAG},
			"audience":             {d.Issuer}, "resource": {d.MCPURL}, "scope": {"demo:tools"},
			"client_id": {clientID}, "subject_token": {"carol"},
		})
		if err != nil {
			t.Fatal(err)
		}
		var ex struct {
			AccessToken     string `json:"access_token"`
			IssuedTokenType string `json:"issued_token_type"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ex)
		resp.Body.Close()
		if err != nil || ex.IssuedTokenType != testidp.TokenTypeIDJAG {
			t.Fatalf("token exchange: %+v %v", ex, err)
		}

		e := &env{token: d.Issuer + provider.TokenPath}
		tok := e.post(t, url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {ex.AccessToken}, "client_id": {clientID}}, "", "")
		if tok.status != 200 || tok.Scope != "demo:tools" {
			t.Fatalf("exchange at the demo: %s", tok.raw)
		}
		c := sdk.NewClient(&sdk.Implementation{Name: "idjag-agent", Version: "1.0.0"}, nil)
		session, err := c.Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: d.MCPURL,
			HTTPClient: &http.Client{Transport: bearer{tok.AccessToken, http.DefaultTransport}}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close()
		res, err := session.CallTool(t.Context(), &sdk.CallToolParams{Name: "whoami"})
		if err != nil || res.IsError {
			t.Fatalf("whoami: %+v %v", res, err)
		}
		if text := res.Content[0].(*sdk.TextContent).Text; !strings.Contains(text, "carol") {
			t.Errorf("whoami says %q, want the IdP's user carol", text)
		}
		if logs := d.Logs(); !strings.Contains(logs, "id-jag accepted") || strings.Contains(logs, ex.AccessToken) {
			t.Error("the demo's log has no audit line, or has the assertion")
		}
	})
}

// TestDemo_NoTrustedIdP: without -trust-idp the grant is neither advertised nor accepted
// (unsupported_grant_type).
func TestDemo_NoTrustedIdP(t *testing.T) {
	d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{Args: []string{"-rate-limit=false"}})
	m, err := d.ASMetadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(asJSON(m["grant_types_supported"]), provider.GrantTypeJWTBearer) || m["authorization_grant_profiles_supported"] != nil {
		t.Fatalf("metadata advertises ID-JAG: %v", m)
	}
	e := &env{token: d.Issuer + provider.TokenPath}
	r := e.post(t, url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {"x.y.z"}, "client_id": {"c"}}, "", "")
	if r.status != 400 || r.Error != "unsupported_grant_type" {
		t.Fatalf("got %s", r.raw)
	}
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
