package provider_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestRFC7009_2_1_Revocation pins token revocation: owner only, both token types searched
// whatever the hint, the grant's tokens revoked together, RFC errors for bad requests.
func TestRFC7009_2_1_Revocation(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		revoke := func(form url.Values, user, pass string) *http.Response {
			return e.postForm(e.issuer+"/revoke", form, user, pass)
		}
		alive := func(tok tokenResponse) (access, refresh bool) {
			_, err := e.p.VerifyAccessToken(ctx, tok.AccessToken)
			return err == nil, e.refreshActive(tok.RefreshToken)
		}

		t.Run("another client's revocation is ignored with 200", func(t *testing.T) {
			tok := e.tokens(nil)
			resp := revoke(url.Values{"token": {tok.AccessToken}}, e.conf.ID, e.confSecret)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if a, r := alive(tok); !a || !r {
				t.Fatalf("another client revoked the tokens (access %v refresh %v)", a, r)
			}
		})
		for _, hint := range []string{"", "access_token", "refresh_token", "bogus"} {
			t.Run("access token with hint "+hint, func(t *testing.T) {
				tok := e.tokens(nil)
				form := url.Values{"token": {tok.AccessToken}, "client_id": {e.public.ID}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				if resp := revoke(form, "", ""); resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if a, r := alive(tok); a || r {
					t.Fatalf("after revoking the access token: access %v refresh %v", a, r)
				}
			})
			t.Run("refresh token with hint "+hint, func(t *testing.T) {
				tok := e.tokens(nil)
				form := url.Values{"token": {tok.RefreshToken}, "client_id": {e.public.ID}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				if resp := revoke(form, "", ""); resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if a, r := alive(tok); a || r {
					t.Fatalf("after revoking the refresh token: access %v refresh %v", a, r)
				}
			})
		}
		t.Run("unknown token is 200", func(t *testing.T) {
			if resp := revoke(url.Values{"token": {"ory_at_unknown.unknown"}, "client_id": {e.public.ID}}, "", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
		t.Run("missing token", func(t *testing.T) {
			wantJSONError(t, revoke(url.Values{"client_id": {e.public.ID}}, "", ""), 400, "invalid_request")
		})
		t.Run("unauthenticated", func(t *testing.T) {
			wantJSONError(t, revoke(url.Values{"token": {"x"}}, "", ""), 401, "invalid_client")
		})
		t.Run("wrong secret", func(t *testing.T) {
			resp := revoke(url.Values{"token": {"x"}}, e.conf.ID, "wrong")
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
			wantJSONError(t, resp, 401, "invalid_client")
		})
		t.Run("wrong method", func(t *testing.T) {
			wantJSONError(t, e.get(e.issuer+"/revoke"), http.StatusMethodNotAllowed, "invalid_request")
		})
		t.Run("wrong content type", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.issuer+"/revoke", nil)
			req.Header.Set("Content-Type", "text/plain")
			wantJSONError(t, e.do(req), 400, "invalid_request")
		})
	})
}

// TestRFC7662_Introspection pins token introspection.
func TestRFC7662_Introspection(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(url.Values{"scope": {"read write"}})
		in := e.introspect(tok.AccessToken)
		if !in.Active || in.Scope != "read write" || in.ClientID != e.public.ID || in.Sub != testSubject ||
			len(in.Aud) != 1 || in.Aud[0] != e.resource || in.TokenType != "Bearer" || in.Exp <= time.Now().Unix() || in.Iat == 0 || in.Iss != e.issuer {
			t.Fatalf("introspection %+v", in)
		}
		// token_type_hint is only a hint.
		resp := e.postForm(e.issuer+"/introspect", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"refresh_token"}}, e.rs.ID, e.rsSecret)
		if got := decode[introspection](t, resp); !got.Active || got.TokenUse != "access_token" {
			t.Fatalf("with a wrong hint: %+v", got)
		}
		for name, token := range map[string]string{
			"unknown":        "ory_at_unknown.unknown",
			"garbage":        "%%%",
			"code-like":      "ory_ac_x.y",
			"empty-ish":      " ",
			"access as hmac": tok.AccessToken + "x",
		} {
			if in := e.introspect(token); in.Active {
				t.Errorf("%s token active", name)
			}
		}
		// client_secret_post works too.
		resp = e.postForm(e.issuer+"/introspect", url.Values{"token": {tok.AccessToken}, "client_id": {e.conf.ID}, "client_secret": {e.confSecret}}, "", "")
		if resp.StatusCode != 401 { // web-app is registered for client_secret_basic
			t.Errorf("client_secret_post for a basic client: %d", resp.StatusCode)
		}
		t.Run("requires client authentication", func(t *testing.T) {
			wantJSONError(t, e.postForm(e.issuer+"/introspect", url.Values{"token": {tok.AccessToken}}, "", ""), 401, "invalid_client")
		})
		t.Run("public clients cannot introspect", func(t *testing.T) {
			wantJSONError(t, e.postForm(e.issuer+"/introspect", url.Values{"token": {tok.AccessToken}, "client_id": {e.public.ID}}, "", ""), 401, "invalid_client")
		})
		t.Run("missing token", func(t *testing.T) {
			wantJSONError(t, e.postForm(e.issuer+"/introspect", url.Values{"x": {"y"}}, e.rs.ID, e.rsSecret), 400, "invalid_request")
		})
		t.Run("revoked token is inactive", func(t *testing.T) {
			tok := e.tokens(nil)
			e.postForm(e.issuer+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {e.public.ID}}, "", "")
			if in := e.introspect(tok.AccessToken); in.Active {
				t.Fatal("revoked access token active")
			}
			if e.refreshActive(tok.RefreshToken) {
				t.Fatal("revoked grant's refresh token active")
			}
		})
	})
}

// TestTokenExpiry: expired access tokens are inactive and refused by VerifyAccessToken.
func TestTokenExpiry(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		time.Sleep(1600 * time.Millisecond) // fosite rounds expiry to the second
		if in := e.introspect(tok.AccessToken); in.Active {
			t.Fatal("expired access token is active")
		}
		if _, err := e.p.VerifyAccessToken(context.Background(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
			t.Fatalf("expired access token verified: %v", err)
		}
		if resp, tr := e.refresh(tok.RefreshToken, nil); resp.StatusCode != 200 {
			t.Fatalf("refresh after access token expiry: %+v", tr)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.AccessTokenLifespan = time.Second })
}

// TestVerifyAccessToken pins what VerifyAccessToken refuses.
func TestVerifyAccessToken(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tok := e.tokens(nil)
		for name, token := range map[string]string{
			"empty":                 "",
			"refresh token":         tok.RefreshToken,
			"refresh token as at":   "ory_at_" + tok.RefreshToken[len("ory_rt_"):],
			"tampered":              tok.AccessToken[:len(tok.AccessToken)-2] + "xx",
			"garbage":               "not a token",
			"other server's secret": "ory_at_AAAA.BBBB",
		} {
			if _, err := e.p.VerifyAccessToken(ctx, token); !errors.Is(err, provider.ErrInvalidToken) {
				t.Errorf("%s: %v, want ErrInvalidToken", name, err)
			}
		}
		if _, err := e.p.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	})
}
