package registration_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

func challengeError(t *testing.T, r result) string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate(r.header.Values("WWW-Authenticate"))
	if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" {
		t.Fatalf("challenge %q: %v", r.header.Values("WWW-Authenticate"), err)
	}
	return cs[0].Params["error"]
}

// RFC 7592 §2: the client configuration endpoint authenticates with the registration
// access token; an unknown client or a wrong token gets 401 invalid_token.
func TestManage_RFC7592_2_Authentication(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{})
		in := e.mustRegister(`{"redirect_uris":["https://a.example/cb"]}`)
		if in.RegistrationAccessToken == "" || in.RegistrationClientURI != e.endpoint+"/"+in.ClientID {
			t.Fatalf("registration_client_uri %q, token %q", in.RegistrationClientURI, in.RegistrationAccessToken)
		}
		c, err := s.LoadClient(context.Background(), in.ClientID)
		if err != nil || string(c.RegistrationAccessTokenHash) != string(provider.HashGeneratedSecret(in.RegistrationAccessToken)) {
			t.Fatalf("stored registration token hash %q, %v", c.RegistrationAccessTokenHash, err)
		}
		// A static client: no registration access token, never manageable.
		static := &provider.Client{ID: "static", Source: provider.ClientSourceStatic, Public: true,
			RegistrationAccessTokenHash: provider.HashGeneratedSecret(in.RegistrationAccessToken)}
		if err := s.CreateClient(context.Background(), static); err != nil {
			t.Fatal(err)
		}
		other := e.mustRegister(`{"redirect_uris":["https://b.example/cb"]}`)

		tests := []struct {
			name      string
			url       string
			header    map[string]string
			wantError string
		}{
			{"no token", in.RegistrationClientURI, nil, ""},
			{"wrong token", in.RegistrationClientURI, bearer("nope"), "invalid_token"},
			{"another client's token", in.RegistrationClientURI, bearer(other.RegistrationAccessToken), "invalid_token"},
			{"client secret instead", in.RegistrationClientURI, bearer(in.ClientSecret), "invalid_token"},
			{"unknown client", e.endpoint + "/unknown", bearer(in.RegistrationAccessToken), "invalid_token"},
			// A security review: IDs PostgreSQL cannot hold were a 500 there.
			{"client ID with NUL", e.endpoint + "/a%00b", bearer(in.RegistrationAccessToken), "invalid_token"},
			{"client ID not UTF-8", e.endpoint + "/a%FFb", bearer(in.RegistrationAccessToken), "invalid_token"},
			{"static client", e.endpoint + "/static", bearer(in.RegistrationAccessToken), "invalid_token"},
		}
		for _, tt := range tests {
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				t.Run(tt.name+"/"+m, func(t *testing.T) {
					r := e.do(m, tt.url, `{"client_id":"`+in.ClientID+`","redirect_uris":["https://a.example/cb"]}`, tt.header)
					if r.status != http.StatusUnauthorized || challengeError(t, r) != tt.wantError {
						t.Errorf("%d %s %v", r.status, r.raw, r.header.Values("WWW-Authenticate"))
					}
				})
			}
		}
		if _, err := s.LoadClient(context.Background(), in.ClientID); err != nil {
			t.Errorf("client gone after refused requests: %v", err)
		}
	})
}

// RFC 7592 §2.1 read and §3 client information response.
func TestManage_RFC7592_2_1_Read(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{})
		in := e.mustRegister(`{"redirect_uris":["https://a.example/cb"],"client_name":"App","scope":"files:read"}`)
		r := e.do(http.MethodGet, in.RegistrationClientURI, "", bearer(in.RegistrationAccessToken))
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		got := r.info
		if got.ClientID != in.ClientID || got.ClientName != "App" || got.Scope != "files:read" || got.ClientSecret != "" ||
			got.ClientIDIssuedAt != in.ClientIDIssuedAt || got.ClientSecretExpiresAt == nil ||
			got.RegistrationAccessToken != in.RegistrationAccessToken || got.RegistrationClientURI != in.RegistrationClientURI ||
			!slices.Equal(got.RedirectURIs, in.RedirectURIs) || got.TokenEndpointAuthMethod != "client_secret_basic" {
			t.Errorf("read %s\nregistered %+v", r.raw, in)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Error("read response cacheable")
		}
	})
}

// RFC 7592 §2.2 update: the body replaces the metadata, the registration access token
// rotates, and the server-issued members are refused.
func TestManage_RFC7592_2_2_Update(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		ctx := context.Background()
		e := newEnv(t, s, registration.Options{})
		in := e.mustRegister(`{"redirect_uris":["https://a.example/cb"],"client_name":"Old","scope":"files:read"}`)
		put := func(token, body string) result {
			return e.do(http.MethodPut, in.RegistrationClientURI, body, bearer(token))
		}
		id := `"client_id":"` + in.ClientID + `"`

		for name, body := range map[string]string{
			"client_id missing":                 `{"redirect_uris":["https://a.example/cb"]}`,
			"client_id different":               `{"client_id":"other","redirect_uris":["https://a.example/cb"]}`,
			"registration_access_token present": `{` + id + `,"redirect_uris":["https://a.example/cb"],"registration_access_token":"x"}`,
			"registration_client_uri present":   `{` + id + `,"redirect_uris":["https://a.example/cb"],"registration_client_uri":"x"}`,
			"client_secret_expires_at present":  `{` + id + `,"redirect_uris":["https://a.example/cb"],"client_secret_expires_at":0}`,
			"client_id_issued_at present":       `{` + id + `,"redirect_uris":["https://a.example/cb"],"client_id_issued_at":1}`,
			"client_secret chosen by client":    `{` + id + `,"redirect_uris":["https://a.example/cb"],"client_secret":"my-own-secret"}`,
			"metadata invalid":                  `{` + id + `,"redirect_uris":["http://evil.example/cb"]}`,
		} {
			t.Run(name, func(t *testing.T) {
				r := put(in.RegistrationAccessToken, body)
				if r.status != http.StatusBadRequest || (r.err.ErrorCode != "invalid_client_metadata" && r.err.ErrorCode != "invalid_redirect_uri") {
					t.Errorf("%d %s", r.status, r.raw)
				}
			})
		}

		r := put(in.RegistrationAccessToken, `{`+id+`,"client_secret":"`+in.ClientSecret+`","redirect_uris":["https://a.example/new"],"client_name":"New"}`)
		if r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.raw)
		}
		up := r.info
		if up.ClientName != "New" || !slices.Equal(up.RedirectURIs, []string{"https://a.example/new"}) ||
			up.Scope != "files:read files:write" /* absent scope: defaults, replace semantics */ ||
			up.ClientSecret != in.ClientSecret || up.RegistrationAccessToken == "" || up.RegistrationAccessToken == in.RegistrationAccessToken {
			t.Errorf("update response %s", r.raw)
		}
		if r := e.do(http.MethodGet, in.RegistrationClientURI, "", bearer(in.RegistrationAccessToken)); r.status != http.StatusUnauthorized {
			t.Errorf("old registration access token still works: %d", r.status)
		}
		c, err := s.LoadClient(ctx, in.ClientID)
		if err != nil || c.Name != "New" || (provider.SecretHasher{}).Compare(ctx, c.SecretHash, []byte(in.ClientSecret)) != nil {
			t.Fatalf("stored %+v, %v", c, err)
		}

		// Confidential → public drops the secret; public → confidential issues a new one.
		r = put(up.RegistrationAccessToken, `{`+id+`,"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
		if r.status != http.StatusOK || r.info.ClientSecret != "" || r.info.ClientSecretExpiresAt != nil {
			t.Fatalf("to public: %d %s", r.status, r.raw)
		}
		if c, _ := s.LoadClient(ctx, in.ClientID); !c.Public || c.SecretHash != nil {
			t.Errorf("stored %+v", c)
		}
		r = put(r.info.RegistrationAccessToken, `{`+id+`,"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_post"}`)
		if r.status != http.StatusOK || len(r.info.ClientSecret) < 43 || r.info.ClientSecret == in.ClientSecret || r.info.ClientSecretExpiresAt == nil {
			t.Fatalf("to confidential: %d %s", r.status, r.raw)
		}
		if c, _ := s.LoadClient(ctx, in.ClientID); c.Public || (provider.SecretHasher{}).Compare(ctx, c.SecretHash, []byte(r.info.ClientSecret)) != nil {
			t.Errorf("stored %+v", c)
		}
	})
}

// RFC 7592 §2.3 delete: 204, then the client and its token are gone.
func TestManage_RFC7592_2_3_Delete(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, registration.Options{})
		in := e.mustRegister(`{"redirect_uris":["https://a.example/cb"]}`)
		r := e.do(http.MethodDelete, in.RegistrationClientURI, "", bearer(in.RegistrationAccessToken))
		if r.status != http.StatusNoContent {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if _, err := s.LoadClient(context.Background(), in.ClientID); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("client still stored: %v", err)
		}
		if r := e.do(http.MethodGet, in.RegistrationClientURI, "", bearer(in.RegistrationAccessToken)); r.status != http.StatusUnauthorized {
			t.Errorf("read after delete: %d", r.status)
		}
	})
}

// With RFC 7592 off no registration access token is issued and the client configuration
// endpoints do not exist.
func TestManage_Disabled(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	e := newEnv(t, s, registration.Options{DisableManagement: true})
	r := e.register(`{"redirect_uris":["https://a.example/cb"]}`)
	if r.status != http.StatusCreated || strings.Contains(r.raw, "registration_") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if c, _ := s.LoadClient(context.Background(), r.info.ClientID); c.RegistrationAccessTokenHash != nil {
		t.Error("registration access token hash stored")
	}
	if r := e.do(http.MethodGet, e.endpoint+"/"+r.info.ClientID, "", bearer("x")); r.status != http.StatusNotFound {
		t.Errorf("GET: %d", r.status)
	}
}
