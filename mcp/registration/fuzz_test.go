package registration

import (
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// FuzzRegistrationRequest: whatever the body, parsing and validation never panic, and
// whatever they accept satisfies the rules the handler promises (RFC 7591 §2, OAuth 2.1
// redirect URIs, supported values only, no null in the response).
func FuzzRegistrationRequest(f *testing.F) {
	for _, name := range []string{"mcp-go-register.json", "claude-code-register.json", "mcp-remote-register.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `{"redirect_uris":null}`, `{"redirect_uris":["javascript:alert(1)"]}`,
		`{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"],"response_types":["code"]}`,
		`{"redirect_uris":["http://[::1]:80/cb"],"scope":"  files:read\tx  ","jwks":"x","jwks_uri":"https://a/j"}`,
		`{"redirect_uris":["com.example.app:/cb"],"token_endpoint_auth_method":"none","grant_types":["client_credentials"]}`,
		`{"redirect_uris":["https://a.example/cb"],"logo_uri":"HTTPS://A.EXAMPLE/l","client_uri":"http://LOCALHOST/"}`,
		`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}`,
		`{"redirect_uris":["https://a.example/cb"]} trailing`, `{"a":` + strings.Repeat("[", 200) + `}`,
		`{"redirect_uris":["https://a.example/cb"],"ClientMetadata":{"client_name":"x"},"REDIRECT_URIS":["http://evil/"]}`,
	} {
		f.Add([]byte(s))
	}
	opts, err := Options{Endpoint: "https://as.example/register", SupportedScopes: []string{"files:read", "files:write"}}.withDefaults()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, rerr := decodeRequest(body)
		if rerr != nil {
			if rerr.ErrorCode != provider.ErrorCodeInvalidClientMetadata && rerr.ErrorCode != provider.ErrorCodeInvalidRedirectURI {
				t.Fatalf("decode error code %q", rerr.ErrorCode)
			}
			return
		}
		m, rerr := opts.resolve(req)
		if rerr != nil {
			if rerr.ErrorCode != provider.ErrorCodeInvalidClientMetadata && rerr.ErrorCode != provider.ErrorCodeInvalidRedirectURI || rerr.ErrorDescription == "" {
				t.Fatalf("resolve error %+v", rerr)
			}
			return
		}
		code := slices.Contains(m.GrantTypes, grantAuthorizationCode)
		if code && len(m.RedirectURIs) == 0 {
			t.Fatal("code grant without redirect URI accepted")
		}
		for _, u := range m.RedirectURIs {
			if err := provider.ValidateRedirectURI(u); err != nil {
				t.Fatalf("redirect URI %q accepted: %v", u, err)
			}
		}
		for _, u := range []string{m.URI, m.LogoURI, m.PolicyURI, m.TOSURI, req.JWKSURI} {
			if p, err := url.Parse(u); u != "" && (err != nil || p.User != nil ||
				p.Scheme != "https" && (p.Scheme != "http" || !loopback.IsHost(p.Hostname()))) {
				t.Fatalf("URL %q accepted", u)
			}
		}
		if len(m.GrantTypes) == 0 || !slices.Contains(opts.AuthMethods, m.TokenEndpointAuthMethod) ||
			(m.TokenEndpointAuthMethod == provider.AuthMethodPrivateKeyJWT) != (m.JWKS != nil) {
			t.Fatalf("grant types %q, method %q", m.GrantTypes, m.TokenEndpointAuthMethod)
		}
		for _, g := range m.GrantTypes {
			if !slices.Contains(opts.GrantTypes, g) {
				t.Fatalf("grant type %q accepted", g)
			}
		}
		if code != slices.Contains(m.ResponseTypes, responseTypeCode) || len(m.ResponseTypes) > 1 {
			t.Fatalf("response types %q with grants %q", m.ResponseTypes, m.GrantTypes)
		}
		scopes := m.Scopes
		if len(scopes) == 0 {
			t.Fatal("no scope registered")
		}
		for _, s := range scopes {
			if !slices.Contains(opts.SupportedScopes, s) {
				t.Fatalf("scope %q accepted", s)
			}
		}
		out, err := json.Marshal(ClientRegistrationResponse{ClientID: "x", ClientMetadata: fromClient(m)})
		var members map[string]any
		if err != nil || json.Unmarshal(out, &members) != nil {
			t.Fatalf("response %s, %v", out, err)
		}
		for k, v := range members {
			if v == nil {
				t.Fatalf("%s is null in %s", k, out)
			}
		}
	})
}
