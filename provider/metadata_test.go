package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestRFC8414_3_Metadata pins the metadata document and where it is served: the
// path-inserted well-known URL of the issuer and the OpenID Connect variants, with
// CORS, HEAD, 405 + Allow, and never a null field.
func TestRFC8414_3_Metadata(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		paths := []string{
			"/.well-known/oauth-authorization-server/oauth", // RFC 8414 §3.1 path insertion
			"/.well-known/openid-configuration/oauth",
			"/oauth/.well-known/openid-configuration",
		}
		var first []byte
		for _, path := range paths {
			resp := e.get(e.base + path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
			}
			if first == nil {
				first = body
			} else if !bytes.Equal(first, body) {
				t.Errorf("%s serves a different document", path)
			}
		}
		if bytes.Contains(first, []byte("null")) {
			t.Errorf("metadata contains null: %s", first)
		}
		var m map[string]any
		if err := json.Unmarshal(first, &m); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"issuer":                 e.issuer, // RFC 8414 §3.3: identical to the issuer
			"authorization_endpoint": e.issuer + "/authorize",
			"token_endpoint":         e.issuer + "/token",
			"revocation_endpoint":    e.issuer + "/revoke",
			"introspection_endpoint": e.issuer + "/introspect",
			"authorization_response_iss_parameter_supported": true,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		list := func(k string) []string {
			var out []string
			for _, v := range m[k].([]any) {
				out = append(out, v.(string))
			}
			return out
		}
		for k, v := range map[string][]string{
			"response_types_supported":                         {"code"},
			"code_challenge_methods_supported":                 {"S256"},
			"grant_types_supported":                            {"authorization_code", "refresh_token", "client_credentials"},
			"token_endpoint_auth_methods_supported":            {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
			"token_endpoint_auth_signing_alg_values_supported": {"RS256", "PS256", "ES256", "EdDSA"},
			"scopes_supported":                                 {"read", "write"},
			"introspection_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post", "private_key_jwt"},
			// RFC 8414 §2: present because private_key_jwt is listed for the endpoint.
			"introspection_endpoint_auth_signing_alg_values_supported": {"RS256", "PS256", "ES256", "EdDSA"},
			"revocation_endpoint_auth_signing_alg_values_supported":    {"RS256", "PS256", "ES256", "EdDSA"},
		} {
			if got := list(k); !slices.Equal(got, v) {
				t.Errorf("%s = %v, want %v", k, got, v)
			}
		}

		t.Run("HEAD", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodHead, e.base+paths[0], nil)
			resp := e.do(req)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("HEAD %d %q", resp.StatusCode, body)
			}
		})
		t.Run("preflight", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, e.base+paths[0], nil)
			req.Header.Set("Origin", "http://localhost:6274")
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Headers", "mcp-protocol-version")
			resp := e.do(req)
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
				resp.Header.Get("Access-Control-Allow-Headers") != "mcp-protocol-version" {
				t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
			}
		})
		t.Run("POST is 405", func(t *testing.T) {
			resp := e.postForm(e.base+paths[0], nil, "", "")
			if resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			wantJSONError(t, resp, http.StatusMethodNotAllowed, "invalid_request")
		})
		t.Run("not served at the wrong places", func(t *testing.T) {
			for _, path := range []string{"/.well-known/oauth-authorization-server", "/oauth/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/oauth/"} {
				if resp := e.get(e.base + path); resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s: %d", path, resp.StatusCode)
				}
			}
		})
	})
}

// TestRFC8414_3_RootIssuer: an issuer without a path serves the plain well-known URLs,
// and EditMetadata and RefreshTokenScopes shape the document.
func TestRFC8414_3_RootIssuer(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	p, err := provider.New(provider.Config{
		Issuer: issuer, Storage: s, GlobalSecret: bytes.Repeat([]byte("k"), 32),
		Scopes: []string{"mcp"}, RefreshTokenScopes: []string{"offline_access"},
		Authenticator: provider.AuthenticatorFunc(func(context.Context, string, string) (string, error) { return "", errors.New("no") }),
		EditMetadata: func(m *provider.AuthorizationServerMetadata) {
			m.RegistrationEndpoint = issuer + "/register"
			m.ClientIDMetadataDocumentSupported = true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	srv.Start()
	defer srv.Close()
	if got := p.MetadataPaths(); !slices.Equal(got, []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}) {
		t.Fatalf("paths %v", got)
	}
	resp, err := http.Get(issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m provider.AuthorizationServerMetadata
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.Issuer != issuer || m.TokenEndpoint != issuer+"/token" || m.RegistrationEndpoint != issuer+"/register" ||
		!m.ClientIDMetadataDocumentSupported || !slices.Equal(m.ScopesSupported, []string{"mcp", "offline_access"}) ||
		!slices.Equal(m.GrantTypesSupported, []string{"authorization_code", "refresh_token"}) {
		t.Fatalf("metadata %+v", m)
	}
	if p.Metadata().Issuer != issuer {
		t.Fatal("Metadata() disagrees")
	}
	m2 := p.Metadata()
	m2.ScopesSupported[0] = "changed"
	if p.Metadata().ScopesSupported[0] != "mcp" {
		t.Fatal("Metadata() returns shared slices")
	}
}
