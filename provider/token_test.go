package provider_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestRFC6749_5_2_TokenErrors pins the token endpoint's error responses: RFC 6749 §5.2
// JSON with the right code and status, 401 with a Basic challenge for invalid_client,
// never a 500.
func TestRFC6749_5_2_TokenErrors(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		type tc struct {
			name   string
			form   url.Values // starts from a valid code exchange of the public client
			header map[string]string
			status int
			code   string
		}
		cases := []tc{
			{"grant_type missing", url.Values{"grant_type": nil}, nil, 400, "invalid_request"},
			{"grant_type unsupported", url.Values{"grant_type": {"password"}}, nil, 400, "unsupported_grant_type"},
			{"grant_type device code unsupported", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}, nil, 400, "unsupported_grant_type"},
			{"grant_type repeated", url.Values{"grant_type": {"authorization_code", "authorization_code"}}, nil, 400, "invalid_request"},
			{"code repeated", url.Values{"code": {"a", "b"}}, nil, 400, "invalid_request"},
			{"code missing", url.Values{"code": nil}, nil, 400, "invalid_request"},
			{"code unknown", url.Values{"code": {"ory_ac_bogus.bogus"}}, nil, 400, "invalid_grant"},
			{"RFC 7636 §4.5 code_verifier missing", url.Values{"code_verifier": nil}, nil, 400, "invalid_request"},
			{"RFC 7636 §4.6 wrong code_verifier", url.Values{"code_verifier": {strings.Repeat("a", 43)}}, nil, 400, "invalid_grant"},
			{"RFC 7636 §4.1 code_verifier too short", url.Values{"code_verifier": {strings.Repeat("a", 42)}}, nil, 400, "invalid_grant"},
			{"RFC 7636 §4.1 code_verifier too long", url.Values{"code_verifier": {strings.Repeat("a", 129)}}, nil, 400, "invalid_grant"},
			{"RFC 7636 §4.1 code_verifier bad characters", url.Values{"code_verifier": {strings.Repeat("+", 43)}}, nil, 400, "invalid_grant"},
			{"RFC 6749 §4.1.3 redirect_uri differs", url.Values{"redirect_uri": {"http://localhost:51000/callback"}}, nil, 400, "invalid_grant"},
			{"RFC 6749 §4.1.3 redirect_uri missing", url.Values{"redirect_uri": nil}, nil, 400, "invalid_grant"},
			{"client unknown", url.Values{"client_id": {"nobody"}}, nil, 401, "invalid_client"},
			{"no client authentication", url.Values{"client_id": nil}, nil, 401, "invalid_client"},
			{"public client sends a secret", url.Values{"client_secret": {"x"}}, nil, 401, "invalid_client"},
			{"RFC 6749 §4.1.3 code of another client", url.Values{"client_id": nil}, map[string]string{"Authorization": basic(e.conf.ID, e.confSecret)}, 400, "invalid_grant"},
			{"malformed Basic header", url.Values{"client_id": nil}, map[string]string{"Authorization": "Basic !!!not-base64"}, 401, "invalid_client"},
			{"Basic without colon", url.Values{"client_id": nil}, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("web-app"))}, 401, "invalid_client"},
			{"Bearer instead of Basic", url.Values{"client_id": nil}, map[string]string{"Authorization": "Bearer abc"}, 401, "invalid_client"},
			{"wrong secret", url.Values{"client_id": nil}, map[string]string{"Authorization": basic(e.conf.ID, "wrong")}, 401, "invalid_client"},
			{"RFC 6749 §2.3 two authentication methods", url.Values{"client_id": nil, "client_secret": {e.confSecret}}, map[string]string{"Authorization": basic(e.conf.ID, e.confSecret)}, 400, "invalid_request"},
			{"client_secret_post for a client_secret_basic client", url.Values{"client_id": {e.conf.ID}, "client_secret": {e.confSecret}}, nil, 401, "invalid_client"},
			{"client assertion (unsupported)", url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"x.y.z"}}, nil, 401, "invalid_client"},
			{"content type JSON", nil, map[string]string{"Content-Type": "application/json"}, 400, "invalid_request"},
			{"content type missing", nil, map[string]string{"Content-Type": ""}, 400, "invalid_request"},
			{"oversized body", url.Values{"pad": {strings.Repeat("x", 70<<10)}}, nil, 400, "invalid_request"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				code, verifier := e.code(redirect, nil)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
					"redirect_uri": {redirect}, "client_id": {e.public.ID}}
				for k, v := range c.form {
					if v == nil {
						delete(form, k)
					} else {
						form[k] = v
					}
				}
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range c.header {
					req.Header.Set(k, v)
				}
				resp := e.do(req)
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
				}
				if c.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
				}
				wantJSONError(t, resp, c.status, c.code)
			})
		}
		t.Run("wrong method", func(t *testing.T) {
			resp := e.get(e.issuer + "/token")
			if resp.Header.Get("Allow") != "POST, OPTIONS" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			wantJSONError(t, resp, http.StatusMethodNotAllowed, "invalid_request")
		})
		t.Run("CORS preflight", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, e.issuer+"/token", nil)
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			resp := e.do(req)
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
				!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "authorization") {
				t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
			}
		})
		t.Run("RFC 6749 §5.1 success headers", func(t *testing.T) {
			code, verifier := e.code(redirect, nil)
			resp, tr := e.exchange(code, verifier, redirect, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" ||
				resp.Header.Get("Pragma") != "no-cache" || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.EqualFold(tr.TokenType, "bearer") || tr.ExpiresIn <= 0 {
				t.Fatalf("%d %v %+v", resp.StatusCode, resp.Header, tr)
			}
		})
		t.Run("refresh errors", func(t *testing.T) {
			tok := e.tokens(nil)
			if resp, tr := e.refresh("ory_rt_bogus.bogus", nil); resp.StatusCode != 400 || tr.Error != "invalid_grant" {
				t.Errorf("unknown refresh token: %d %+v", resp.StatusCode, tr)
			}
			if resp, tr := e.refresh("", nil); resp.StatusCode != 400 || tr.Error != "invalid_request" {
				t.Errorf("missing refresh token: %d %+v", resp.StatusCode, tr)
			}
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			if resp := e.postForm(e.issuer+"/token", form, e.conf.ID, e.confSecret); resp.StatusCode != 400 {
				t.Errorf("refresh with another client's token: %d", resp.StatusCode)
			}
			// The failed attempt by another client did not burn the token.
			if resp, tr := e.refresh(tok.RefreshToken, nil); resp.StatusCode != 200 {
				t.Errorf("refresh after another client's attempt: %d %+v", resp.StatusCode, tr)
			}
		})
	})
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// RFC 6749 §5.2 and §4.1.2.1: an error_description holds only %x20-21 / %x23-5B /
// %x5D-7E, also when it quotes what the client sent (a grant type or response type with
// a backslash, a line break, a non-ASCII letter). fosite only turned '"' into '\”
// (found by a conformance review).
func TestRFC6749_5_2_ErrorDescriptionCharset(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		allowed := func(s string) bool {
			for i := 0; i < len(s); i++ {
				if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
					return false
				}
			}
			return true
		}
		resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {"x\\y\u00e9\n"}, "client_id": {e.public.ID}}, "", "")
		body := decode[tokenResponse](t, resp)
		if body.Error != "unsupported_grant_type" || body.Description == "" || !allowed(body.Description) {
			t.Errorf("token endpoint: %q %q", body.Error, body.Description)
		}
		redirect := "http://localhost:50999/callback"
		q, _ := e.authorizeParams(redirect, url.Values{"response_type": {`co\de\u00e9`}})
		loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode()))
		if d := loc.Query().Get("error_description"); loc.Query().Get("error") == "" || d == "" || !allowed(d) {
			t.Errorf("authorization error redirect %s: error_description %q", loc, d)
		}
	})
}

// TestRFC7636_AppendixB: the RFC's S256 test vector works end to end.
func TestRFC7636_AppendixB(t *testing.T) {
	const (
		verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
		challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	)
	if got := oauth2.S256ChallengeFromVerifier(verifier); got != challenge {
		t.Fatalf("x/oauth2 computes %s", got)
	}
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		r := e.authorize(redirect, url.Values{"code_challenge": {challenge}})
		code := r.redirect.Query().Get("code")
		if resp, tr := e.exchange(code, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", redirect, nil); resp.StatusCode != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("near-miss verifier accepted: %d %+v", resp.StatusCode, tr)
		}
		// A wrong verifier burns the code (PKCE data is deleted first): get a new one.
		r = e.authorize(redirect, url.Values{"code_challenge": {challenge}})
		if resp, tr := e.exchange(r.redirect.Query().Get("code"), verifier, redirect, nil); resp.StatusCode != 200 || tr.AccessToken == "" {
			t.Fatalf("RFC 7636 Appendix B vector refused: %d %+v", resp.StatusCode, tr)
		}
	})
}

// TestAuthorizationCodeExpiry: an expired code is invalid_grant.
func TestAuthorizationCodeExpiry(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50999/callback"
		code, verifier := e.code(redirect, nil)
		time.Sleep(400 * time.Millisecond)
		if resp, tr := e.exchange(code, verifier, redirect, nil); resp.StatusCode != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("expired code: %d %+v", resp.StatusCode, tr)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.AuthorizeCodeLifespan = 300 * time.Millisecond })
}

// TestClientCredentials: confidential clients get tokens bound to the requested
// resource; public clients, clients not registered for the grant, expired secrets and
// unknown resources are refused.
func TestClientCredentials(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}, "resource": {otherRes}}
		resp := e.postForm(e.issuer+"/token", form, e.conf.ID, e.confSecret)
		tr := decode[tokenResponse](t, resp)
		if resp.StatusCode != 200 || tr.RefreshToken != "" {
			t.Fatalf("client credentials: %d %+v", resp.StatusCode, tr)
		}
		at, err := e.p.VerifyAccessToken(ctx, tr.AccessToken)
		if err != nil || at.Subject != "" || at.ClientID != e.conf.ID || !slices.Equal(at.Scopes, []string{"read"}) || !slices.Equal(at.Audience, []string{otherRes}) {
			t.Fatalf("token %+v %v", at, err)
		}
		form.Set("resource", "https://unknown.example/")
		wantJSONError(t, e.postForm(e.issuer+"/token", form, e.conf.ID, e.confSecret), 400, "invalid_target")

		// A human-chosen secret (bcrypt) works; an expired one is invalid_client.
		human, secret, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: "daemon", Secret: "a human chosen secret", GrantTypes: []string{"client_credentials"}})
		if err != nil || secret != "a human chosen secret" || !strings.HasPrefix(string(human.SecretHash), "$2") {
			t.Fatalf("human secret client %v %v", human, err)
		}
		cc := url.Values{"grant_type": {"client_credentials"}}
		resp = e.postForm(e.issuer+"/token", cc, "daemon", secret)
		raw := decode[map[string]any](t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("bcrypt secret: %d", resp.StatusCode)
		}
		// No scope requested, none granted: no scope member (RFC 6749 §3.3: "" is no
		// scope; fosite wrote "scope":"").
		if s, ok := raw["scope"]; ok {
			t.Errorf(`token response with no scope granted has "scope": %q, want no member`, s)
		}
		_, shortSecret, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: "short-lived", GrantTypes: []string{"client_credentials"}, SecretLifespan: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		wantJSONError(t, e.postForm(e.issuer+"/token", cc, "short-lived", shortSecret), 401, "invalid_client")

		// RFC 6749 §4.4 and §5.2: a public client, or a confidential one not registered for
		// the grant, is unauthorized_client (fosite said invalid_grant to a public client).
		web, webSecret, err := e.p.CreateClient(ctx, provider.ClientSpec{RedirectURIs: []string{"https://a.example/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		wantJSONError(t, e.postForm(e.issuer+"/token", cc, web.ID, webSecret), 400, "unauthorized_client")
		cc.Set("client_id", e.public.ID)
		wantJSONError(t, e.postForm(e.issuer+"/token", cc, "", ""), 400, "unauthorized_client")
	})
}

// TestCreateClient pins static client validation.
func TestCreateClient(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		bad := map[string]provider.ClientSpec{
			"http redirect off loopback": {RedirectURIs: []string{"http://app.example/cb"}, Public: true},
			"javascript redirect":        {RedirectURIs: []string{"javascript:alert(1)"}, Public: true},
			"fragment":                   {RedirectURIs: []string{"https://app.example/cb#x"}, Public: true},
			"no redirect for code":       {Public: true},
			"public with secret":         {RedirectURIs: []string{"https://a.example/cb"}, Public: true, Secret: "12345678"},
			"public client credentials":  {Public: true, GrantTypes: []string{"client_credentials"}},
			"unknown grant":              {RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{"password"}},
			"short human secret":         {RedirectURIs: []string{"https://a.example/cb"}, Secret: "short"},
			"bad auth method":            {RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: "client_secret_jwt"},
			"private_key_jwt no keys":    {RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: "private_key_jwt"},
			"bad scope":                  {RedirectURIs: []string{"https://a.example/cb"}, Scopes: []string{"a b"}},
			"bad application type":       {RedirectURIs: []string{"https://a.example/cb"}, ApplicationType: "desktop"},
			"public with secret_basic":   {RedirectURIs: []string{"https://a.example/cb"}, Public: true, TokenEndpointAuthMethod: "client_secret_basic"},
			"audience with fragment":     {RedirectURIs: []string{"https://a.example/cb"}, Audience: []string{"https://a.example/#x"}},
		}
		for name, spec := range bad {
			if _, _, err := e.p.CreateClient(ctx, spec); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		c, secret, err := e.p.CreateClient(ctx, provider.ClientSpec{Name: "CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.cli:/cb"}})
		if err != nil || secret != "" || c.ID == "" || c.ApplicationType != "native" || c.GetTokenEndpointAuthMethod() != "none" ||
			!slices.Equal(c.Scopes, []string{"read", "write"}) || !slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token"}) {
			t.Fatalf("public client %+v %q %v", c, secret, err)
		}
		c, secret, err = e.p.CreateClient(ctx, provider.ClientSpec{RedirectURIs: []string{"https://a.example/cb"}})
		if err != nil || len(secret) != 43 || !strings.HasPrefix(string(c.SecretHash), "sha256$") || c.ApplicationType != "web" ||
			time.Until(c.SecretExpiresAt) < 89*24*time.Hour {
			t.Fatalf("confidential client %+v %v", c, err)
		}
		if _, _, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: c.ID, RedirectURIs: []string{"https://a.example/cb"}}); err == nil {
			t.Fatal("duplicate client ID accepted")
		}
	})
}
