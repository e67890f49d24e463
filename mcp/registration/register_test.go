package registration_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 7591 §3.2.1: a successful registration answers 201 with the effective metadata,
// client_id, client_id_issued_at and, for confidential clients, a secret returned once.
func TestRegister_RFC7591_3_2_1(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		ctx := context.Background()
		e := newEnv(t, s, registration.Options{})

		t.Run("public client from mcp-go, unknown resource member ignored", func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			r := e.register(readFile(t, "testdata/mcp-go-register.json"))
			if r.status != http.StatusCreated {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			in := r.info
			if in.ClientID == "" || in.ClientSecret != "" || in.ClientSecretExpiresAt != nil || strings.Contains(r.raw, "client_secret") {
				t.Errorf("public client got %s", r.raw)
			}
			if got := time.Unix(in.ClientIDIssuedAt, 0); got.Before(before) || got.After(time.Now()) {
				t.Errorf("client_id_issued_at = %v", got)
			}
			if in.TokenEndpointAuthMethod != "none" || !slices.Equal(in.GrantTypes, []string{"authorization_code", "refresh_token"}) ||
				!slices.Equal(in.ResponseTypes, []string{"code"}) || in.Scope != "files:read files:write" || in.ClientName != "mcp-go client" {
				t.Errorf("effective metadata %s", r.raw)
			}
			if strings.Contains(r.raw, "null") || strings.Contains(r.raw, `"resource"`) {
				t.Errorf("response has null or echoes resource: %s", r.raw)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", r.header)
			}
			c, err := s.LoadClient(ctx, in.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Public || c.SecretHash != nil || c.Source != provider.ClientSourceDynamic ||
				!slices.Equal(c.RedirectURIs, []string{"http://localhost:8085/oauth/callback"}) ||
				!slices.Equal(c.Scopes, testScopes) {
				t.Errorf("stored client %+v", c)
			}
		})

		t.Run("confidential by default, secret of 256 bits stored hashed", func(t *testing.T) {
			r := e.register(`{"redirect_uris":["https://app.example.com/cb"],"client_name":"Web"}`)
			if r.status != http.StatusCreated {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			in := r.info
			if in.TokenEndpointAuthMethod != "client_secret_basic" || !slices.Equal(in.GrantTypes, []string{"authorization_code"}) ||
				!slices.Equal(in.ResponseTypes, []string{"code"}) {
				t.Errorf("RFC 7591 §2 defaults not applied: %s", r.raw)
			}
			if len(in.ClientSecret) < 43 { // 43 base64url characters = 256 bits
				t.Errorf("client_secret %d characters", len(in.ClientSecret))
			}
			if in.ClientSecretExpiresAt == nil || *in.ClientSecretExpiresAt != 0 || !strings.Contains(r.raw, `"client_secret_expires_at":0`) {
				t.Errorf("client_secret_expires_at must be present and 0: %s", r.raw)
			}
			c, err := s.LoadClient(ctx, in.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if c.Public || strings.Contains(string(c.SecretHash), in.ClientSecret) ||
				(provider.SecretHasher{}).Compare(ctx, c.SecretHash, []byte(in.ClientSecret)) != nil || !c.SecretExpiresAt.IsZero() {
				t.Errorf("stored secret hash %q does not verify the returned secret", c.SecretHash)
			}
		})

		t.Run("Claude Code: no scope gets the default scopes, localhost without port", func(t *testing.T) {
			in := e.mustRegister(readFile(t, "testdata/claude-code-register.json"))
			if in.Scope != "files:read files:write" || !slices.Equal(in.RedirectURIs, []string{"http://localhost/callback"}) {
				t.Errorf("got %+v", in)
			}
		})

		t.Run("mcp-remote: unknown scopes filtered", func(t *testing.T) {
			in := e.mustRegister(readFile(t, "testdata/mcp-remote-register.json"))
			if in.Scope != "files:read" || in.SoftwareID == "" || in.SoftwareVersion != "0.1.16" || in.ClientURI == "" {
				t.Errorf("got %+v", in)
			}
		})

		t.Run("only unknown scopes: default scopes", func(t *testing.T) {
			in := e.mustRegister(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"openid email"}`)
			if in.Scope != "files:read files:write" {
				t.Errorf("scope %q", in.Scope)
			}
		})

		t.Run("native app: private-use scheme, application_type stored", func(t *testing.T) {
			in := e.mustRegister(`{"redirect_uris":["com.example.app:/oauth2redirect","com.example.app://example.ext/cb"],
				"token_endpoint_auth_method":"none","application_type":"native","scope":"files:write",
				"contacts":["a@example.com","a@example.com"],"logo_uri":"https://example.com/l.png",
				"policy_uri":"https://example.com/p","tos_uri":"https://example.com/t","client_uri":"http://localhost:3000/"}`)
			c, err := s.LoadClient(ctx, in.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if in.ApplicationType != "native" || c.ApplicationType != "native" || c.LogoURI != "https://example.com/l.png" ||
				!slices.Equal(c.Contacts, []string{"a@example.com"}) || !slices.Equal(c.Scopes, []string{"files:write"}) {
				t.Errorf("stored %+v", c)
			}
		})

		t.Run("nulls, charset and ignored members", func(t *testing.T) {
			r := e.do(http.MethodPost, e.endpoint, `{"redirect_uris":["https://a.example/cb"],"grant_types":null,"client_name":null,
				"client_id":"chosen","client_secret":"chosen","client_name#ja-Jpan-JP":"クライアント","software_statement":"eyJ.x.y",
				"jwks":{"keys":[]},"extra":{"nested":[1,2,{"x":null}]}}`,
				map[string]string{"Content-Type": "application/json; charset=utf-8"})
			if r.status != http.StatusCreated || r.info.ClientID == "chosen" || r.info.ClientSecret == "chosen" ||
				!slices.Equal(r.info.GrantTypes, []string{"authorization_code"}) {
				t.Errorf("%d %s", r.status, r.raw)
			}
		})

		t.Run("go-sdk's RegisterClient", func(t *testing.T) {
			resp, err := oauthex.RegisterClient(ctx, e.endpoint, &oauthex.ClientRegistrationMetadata{
				RedirectURIs: []string{"http://127.0.0.1:4242/callback"}, TokenEndpointAuthMethod: "none",
				GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
				ClientName: "go-sdk", ApplicationType: "native",
			}, e.srv.Client())
			if err != nil {
				t.Fatalf("go-sdk rejected the response: %v", err)
			}
			if resp.ClientID == "" || resp.ClientIDIssuedAt.IsZero() || resp.ApplicationType != "native" {
				t.Errorf("go-sdk parsed %+v", resp)
			}
		})
	})
}

// RFC 7591 §3.2.1 client_secret_expires_at with a configured secret lifespan, and the
// client_credentials grant when enabled.
func TestRegister_RFC7591_3_2_1_SecretLifespan(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{
			ClientSecretLifespan: 24 * time.Hour,
			GrantTypes:           []string{"authorization_code", "refresh_token", "client_credentials"},
			DefaultGrantTypes:    []string{"authorization_code", "refresh_token"},
		})
		if r := e.register(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`); r.status != 400 || r.err.ErrorCode != "invalid_client_metadata" {
			t.Errorf("public client_credentials client: %d %s", r.status, r.raw)
		}
		in := e.mustRegister(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`)
		if in.ClientSecretExpiresAt == nil || *in.ClientSecretExpiresAt != in.ClientIDIssuedAt+24*3600 || len(in.ResponseTypes) != 0 {
			t.Errorf("got %+v", in)
		}
		c, err := s.LoadClient(context.Background(), in.ClientID)
		if err != nil || c.SecretExpiresAt.Unix() != *in.ClientSecretExpiresAt {
			t.Errorf("stored %v, %v", c.SecretExpiresAt, err)
		}
		in = e.mustRegister(`{"redirect_uris":["https://a.example/cb"]}`)
		if !slices.Equal(in.GrantTypes, []string{"authorization_code", "refresh_token"}) {
			t.Errorf("DefaultGrantTypes not applied: %v", in.GrantTypes)
		}
	})
}

// RFC 7591 §3.2.2: every refusal, with its status and error code.
func TestRegister_RFC7591_3_2_2_Rejections(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{})
		strict := newEnv(t, s, registration.Options{UnknownScopes: registration.RejectUnknownScopes})
		const cb = `"redirect_uris":["https://a.example/cb"]`
		tests := []struct {
			name        string
			env         *env
			contentType string // default application/json
			body        string
			wantStatus  int
			wantError   string
		}{
			{"redirect_uris missing for the code grant", e, "", `{}`, 400, "invalid_redirect_uri"},
			{"redirect_uris empty", e, "", `{"redirect_uris":[]}`, 400, "invalid_redirect_uri"},
			{"redirect URI relative", e, "", `{"redirect_uris":["/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI with fragment", e, "", `{"redirect_uris":["https://a.example/cb#x"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI http not loopback", e, "", `{"redirect_uris":["http://a.example/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI javascript", e, "", `{"redirect_uris":["javascript:alert(1)//"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI data", e, "", `{"redirect_uris":["data:text/html,<script>alert(1)</script>"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI vbscript", e, "", `{"redirect_uris":["vbscript:msgbox"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI file", e, "", `{"redirect_uris":["file:///etc/passwd"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI with user info", e, "", `{"redirect_uris":["https://u:p@a.example/cb"]}`, 400, "invalid_redirect_uri"},
			// Issue 14 finding 1: schemes that are not RFC 8252 §7.1 private-use schemes.
			{"redirect URI search-ms without path", e, "", `{"redirect_uris":["search-ms:?query=x&crumb=location:\\\\attacker.example\\share"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI ms-appinstaller", e, "", `{"redirect_uris":["ms-appinstaller:?source=https://attacker.example/x.appx"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI x-safari-https", e, "", `{"redirect_uris":["x-safari-https://attacker.example/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI ftp", e, "", `{"redirect_uris":["ftp://attacker.example/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI mailto", e, "", `{"redirect_uris":["mailto:/x"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI dotless private-use scheme", e, "", `{"redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI private-use without path", e, "", `{"redirect_uris":["com.example.app:?code=x"]}`, 400, "invalid_redirect_uri"},
			// Issue 14 findings 5 and 10: IRI hosts and ports that are not ports.
			{"redirect URI IRI host", e, "", `{"redirect_uris":["https://аррӏе.com/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI percent-encoded host", e, "", `{"redirect_uris":["https://%D0%B0pple.com/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI port with leading zero", e, "", `{"redirect_uris":["http://127.0.0.1:09999/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect URI port out of range", e, "", `{"redirect_uris":["http://127.0.0.1:99999999999/cb"]}`, 400, "invalid_redirect_uri"},
			// Issue 14 finding 5: client_name is shown on consent pages (provider.ValidateClientName).
			{"client_name too long", e, "", `{` + cb + `,"client_name":"` + strings.Repeat("n", 60000) + `"}`, 400, "invalid_client_metadata"},
			{"client_name with U+202E", e, "", `{` + cb + `,"client_name":"Claude Code \u202e(verified by Anthropic)"}`, 400, "invalid_client_metadata"},
			{"client_name with a control character", e, "", `{` + cb + `,"client_name":"a\u0007b"}`, 400, "invalid_client_metadata"},
			{"redirect URI with a non-ASCII path and a backslash", e, "", `{"redirect_uris":["http://a.example/caf\u00e9\\x"]}`, 400, "invalid_redirect_uri"},
			// A security review: NUL cannot be stored on PostgreSQL (a 500 there, stored on
			// SQLite); software_id, software_version and contacts are plain text like client_name.
			{"software_id with NUL", e, "", `{` + cb + `,"software_id":"a\u0000b"}`, 400, "invalid_client_metadata"},
			{"software_version with NUL", e, "", `{` + cb + `,"software_version":"1\u0000"}`, 400, "invalid_client_metadata"},
			{"contacts with NUL", e, "", `{` + cb + `,"contacts":["a@example.com\u0000"]}`, 400, "invalid_client_metadata"},
			{"software_id with U+202E", e, "", `{` + cb + `,"software_id":"a\u202eb"}`, 400, "invalid_client_metadata"},
			{"software_version too long", e, "", `{` + cb + `,"software_version":"` + strings.Repeat("1", 256) + `"}`, 400, "invalid_client_metadata"},
			{"redirect URI one bad among good", e, "", `{"redirect_uris":["https://a.example/cb","http://evil.example/cb"]}`, 400, "invalid_redirect_uri"},
			{"redirect_uris not an array", e, "", `{"redirect_uris":"https://a.example/cb"}`, 400, "invalid_redirect_uri"},
			{"redirect_uris element not a string", e, "", `{"redirect_uris":[1]}`, 400, "invalid_redirect_uri"},
			{"client_uri http", e, "", `{` + cb + `,"client_uri":"http://a.example/"}`, 400, "invalid_client_metadata"},
			{"client_uri relative", e, "", `{` + cb + `,"client_uri":"/home"}`, 400, "invalid_client_metadata"},
			{"logo_uri javascript", e, "", `{` + cb + `,"logo_uri":"javascript:alert(1)"}`, 400, "invalid_client_metadata"},
			{"policy_uri data", e, "", `{` + cb + `,"policy_uri":"data:text/html,x"}`, 400, "invalid_client_metadata"},
			{"tos_uri vbscript", e, "", `{` + cb + `,"tos_uri":"vbscript:x"}`, 400, "invalid_client_metadata"},
			{"jwks_uri ftp", e, "", `{` + cb + `,"jwks_uri":"ftp://a.example/jwks"}`, 400, "invalid_client_metadata"},
			{"jwks_uri and jwks", e, "", `{` + cb + `,"jwks_uri":"https://a.example/jwks","jwks":{"keys":[]}}`, 400, "invalid_client_metadata"},
			{"grant type implicit", e, "", `{` + cb + `,"grant_types":["implicit"]}`, 400, "invalid_client_metadata"},
			{"grant type password", e, "", `{` + cb + `,"grant_types":["authorization_code","password"]}`, 400, "invalid_client_metadata"},
			{"client_credentials not enabled", e, "", `{"grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
			{"response type token", e, "", `{` + cb + `,"response_types":["code","token"]}`, 400, "invalid_client_metadata"},
			{"code response without code grant (RFC 7591 §2.1)", e, "", `{` + cb + `,"grant_types":["refresh_token"],"response_types":["code"]}`, 400, "invalid_client_metadata"},
			{"auth method private_key_jwt", e, "", `{` + cb + `,"token_endpoint_auth_method":"private_key_jwt"}`, 400, "invalid_client_metadata"},
			{"auth method unknown", e, "", `{` + cb + `,"token_endpoint_auth_method":"magic"}`, 400, "invalid_client_metadata"},
			{"application_type unknown", e, "", `{` + cb + `,"application_type":"desktop"}`, 400, "invalid_client_metadata"},
			{"scope with invalid character", e, "", `{` + cb + `,"scope":"files:read a\"b"}`, 400, "invalid_client_metadata"},
			{"unknown scope in strict mode", strict, "", `{` + cb + `,"scope":"files:read openid"}`, 400, "invalid_client_metadata"},
			{"grant_types not an array", e, "", `{` + cb + `,"grant_types":"authorization_code"}`, 400, "invalid_client_metadata"},
			{"client_name not a string", e, "", `{` + cb + `,"client_name":42}`, 400, "invalid_client_metadata"},
			{"scope not a string", e, "", `{` + cb + `,"scope":["a"]}`, 400, "invalid_client_metadata"},
			{"body not JSON", e, "", `redirect_uris=x`, 400, "invalid_client_metadata"},
			{"body truncated JSON", e, "", `{"redirect_uris":["https://a.example/cb"]`, 400, "invalid_client_metadata"},
			{"body a JSON array", e, "", `[` + `{` + cb + `}]`, 400, "invalid_client_metadata"},
			{"body two objects", e, "", `{` + cb + `}{}`, 400, "invalid_client_metadata"},
			{"body empty", e, "", ``, 415, "invalid_client_metadata"},
			{"content type form", e, "application/x-www-form-urlencoded", `{` + cb + `}`, 415, "invalid_client_metadata"},
			{"content type text", e, "text/plain", `{` + cb + `}`, 415, "invalid_client_metadata"},
			{"body over 64 KiB", e, "", `{` + cb + `,"client_name":"` + strings.Repeat("x", 65<<10) + `"}`, 413, "invalid_client_metadata"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hdr := map[string]string{}
				if tt.contentType != "" {
					hdr["Content-Type"] = tt.contentType
				}
				r := tt.env.do(http.MethodPost, tt.env.endpoint, tt.body, hdr)
				if r.status != tt.wantStatus || r.err.ErrorCode != tt.wantError || r.err.ErrorDescription == "" {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tt.wantStatus, tt.wantError)
				}
				if r.header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
				}
				// RFC 7591 §3.2.2: "Human-readable ASCII text"; RFC 6749 §5.2's set, even
				// where the description quotes the request (a conformance review).
				if d := r.err.ErrorDescription; d != provider.ErrorDescription(d) {
					t.Errorf("error_description %q has characters outside %%x20-21 / %%x23-5B / %%x5D-7E", d)
				}
			})
		}
		var n int64
		if err := s.DB().Table("oauth_clients").Count(&n).Error; err != nil || n != 0 {
			t.Errorf("refused registrations stored %d clients (%v)", n, err)
		}
	})
}

// HTTP-level refusals: methods (RFC 9110 §15.5.6) and CORS preflight.
func TestRegister_MethodsAndCORS(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{})
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			r := e.do(m, e.endpoint, "", nil)
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST, OPTIONS" {
				t.Errorf("%s: %d Allow=%q", m, r.status, r.header.Get("Allow"))
			}
		}
		r := e.do(http.MethodOptions, e.endpoint, "", map[string]string{"Origin": "https://inspector.example", "Access-Control-Request-Method": "POST"})
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Content-Type") {
			t.Errorf("preflight: %d %v", r.status, r.header)
		}
		for _, p := range []string{"/register/a/b", "/register/"} {
			if r := e.do(http.MethodGet, strings.TrimSuffix(e.endpoint, "/register")+p, "", nil); r.status != http.StatusNotFound {
				t.Errorf("GET %s: %d", p, r.status)
			}
		}
	})
}

// RFC 7591 §3: an initial access token may be required; otherwise the endpoint is open or
// off.
func TestRegister_RFC7591_3_Policy(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		token, hash, err := provider.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		_, otherHash, _ := provider.GenerateSecret()
		e := newEnv(t, s, registration.Options{Policy: registration.PolicyInitialAccessToken,
			InitialAccessTokenHashes: [][]byte{otherHash, hash}})
		const body = `{"redirect_uris":["https://a.example/cb"]}`
		tests := []struct {
			name       string
			header     map[string]string
			wantStatus int
			wantError  string // challenge error; "" means none
		}{
			{"missing token", nil, 401, ""},
			{"other scheme", map[string]string{"Authorization": "Basic eDp5"}, 401, ""},
			{"wrong token", bearer("wrong"), 401, "invalid_token"},
			{"hash instead of token", bearer(string(hash)), 401, "invalid_token"},
			{"valid token", bearer(token), 201, ""},
			{"valid token, lowercase scheme", map[string]string{"Authorization": "bearer " + token}, 201, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do(http.MethodPost, e.endpoint, body, tt.header)
				if r.status != tt.wantStatus {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				if r.status == 401 {
					cs, err := oauthex.ParseWWWAuthenticate(r.header.Values("WWW-Authenticate"))
					if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" || cs[0].Params["error"] != tt.wantError {
						t.Errorf("challenge %q: %+v %v", r.header.Values("WWW-Authenticate"), cs, err)
					}
				}
			})
		}
		if !e.h.Advertised() {
			t.Error("PolicyInitialAccessToken should be advertised")
		}

		closed := newEnv(t, s, registration.Options{Policy: registration.PolicyClosed})
		if closed.h.Advertised() {
			t.Error("PolicyClosed advertised")
		}
		if r := closed.register(body); r.status != http.StatusNotFound {
			t.Errorf("closed: %d", r.status)
		}
	})
}

func TestNewHandler_Validation(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	for name, o := range map[string]registration.Options{
		"no endpoint":             {},
		"relative endpoint":       {Endpoint: "/register"},
		"endpoint with query":     {Endpoint: "https://a.example/register?x=1"},
		"endpoint trailing slash": {Endpoint: "https://a.example/register/"},
		"token policy w/o hashes": {Endpoint: "https://a.example/register", Policy: registration.PolicyInitialAccessToken},
		"bad scope":               {Endpoint: "https://a.example/register", SupportedScopes: []string{"a b"}},
		"default scope unknown":   {Endpoint: "https://a.example/register", SupportedScopes: []string{"a"}, DefaultScopes: []string{"b"}},
		"implicit grant":          {Endpoint: "https://a.example/register", GrantTypes: []string{"implicit"}},
		"default grant disabled":  {Endpoint: "https://a.example/register", GrantTypes: []string{"authorization_code"}, DefaultGrantTypes: []string{"refresh_token"}},
		"auth method secret jwt":  {Endpoint: "https://a.example/register", AuthMethods: []string{"client_secret_jwt"}},
		"negative lifespan":       {Endpoint: "https://a.example/register", ClientSecretLifespan: -time.Second},
	} {
		if _, err := registration.NewHandler(s, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := registration.NewHandler(nil, registration.Options{Endpoint: "https://a.example/register"}); err == nil {
		t.Error("nil store accepted")
	}
}

// Concurrent registrations on a real database each get their own client.
func TestRegister_Concurrent(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{})
		const n = 16
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
				if r.status != http.StatusCreated {
					t.Errorf("%d %s", r.status, r.raw)
				}
				ids[i] = r.info.ClientID
			}()
		}
		wg.Wait()
		slices.Sort(ids)
		if len(slices.Compact(ids)) != n {
			t.Errorf("client IDs not unique: %v", ids)
		}
		for _, id := range ids {
			if _, err := s.LoadClient(context.Background(), id); err != nil {
				t.Errorf("client %q: %v", id, err)
			}
		}
	})
}

// TestRegister_ClientIDsInRegistrationOrder: a registered client's ID is 36 characters of
// base32hex (the registration time in milliseconds and 128 random bits), so a client
// registered later has an ID that sorts after an earlier one's.
func TestRegister_ClientIDsInRegistrationOrder(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{})
		var ids []string
		for range 3 {
			r := e.register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
			if r.status != http.StatusCreated {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			id := r.info.ClientID
			if raw, err := base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString(id); err != nil || len(raw) != 22 {
				t.Fatalf("client ID %q is not 22 bytes of base32hex: %v", id, err)
			}
			ids = append(ids, id)
			time.Sleep(2 * time.Millisecond)
		}
		if !slices.IsSorted(ids) {
			t.Errorf("client IDs %q, registered in this order, do not sort in it", ids)
		}
	})
}

// The response never carries null (zod-based clients reject it).
func TestRegister_NoNullMembers(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	e := newEnv(t, s, registration.Options{})
	r := e.register(`{"redirect_uris":["https://a.example/cb"],"contacts":[],"grant_types":[]}`)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.raw), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		if v == nil {
			t.Errorf("%s is null", k)
		}
	}
}

// Options.NameFromRedirectHost: a client without client_name is named after the host of
// its first redirect URI (the scheme for a private-use URI); a given name is kept, and
// without the option the name stays empty (RFC 7591 §2: optional).
func TestRegister_NameFromRedirectHost(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{NameFromRedirectHost: true})
		for body, want := range map[string]string{
			`{"redirect_uris":["https://chatgpt.com/connector_platform_oauth_redirect"],"token_endpoint_auth_method":"none"}`: "chatgpt.com",
			`{"redirect_uris":["http://localhost:6274/cb"],"token_endpoint_auth_method":"none"}`:                              "localhost",
			`{"redirect_uris":["com.example.app:/cb"],"token_endpoint_auth_method":"none"}`:                                   "com.example.app:",
			`{"redirect_uris":["http://localhost/cb"],"client_name":"Named","token_endpoint_auth_method":"none"}`:             "Named",
		} {
			in := e.mustRegister(body)
			c, err := s.LoadClient(context.Background(), in.ClientID)
			if in.ClientName != want || err != nil || c.Name != want {
				t.Errorf("%s: client_name %q (stored %q, %v), want %q", body, in.ClientName, c.Name, err, want)
			}
		}
		plain := newEnv(t, s, registration.Options{})
		if in := plain.mustRegister(`{"redirect_uris":["http://localhost/cb"],"token_endpoint_auth_method":"none"}`); in.ClientName != "" {
			t.Errorf("without the option: client_name %q, want empty", in.ClientName)
		}
	})
}
