package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// refreshActive reports whether the store holds rt as an active refresh token. Tests use it
// instead of introspection, which reports a refresh token only to the client it was issued
// to (and public clients cannot introspect).
func (e *env) refreshActive(rt string) bool {
	e.t.Helper()
	_, err := e.store.GetRefreshTokenSession(context.Background(), provider.StorageSignature(e.p, rt), nil)
	return err == nil
}

// confidentialClient stores a confidential client with source src and returns its ID and secret.
func (e *env) confidentialClient(id string, src provider.ClientSource) (string, string) {
	e.t.Helper()
	secret, hash, err := provider.GenerateSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	now := time.Now().UTC()
	c := &provider.Client{
		ID: id, SecretHash: hash, TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		RedirectURIs: []string{"https://attacker.example/cb"}, GrantTypes: []string{"authorization_code"},
		ResponseTypes: []string{"code"}, Scopes: []string{"read"}, Source: src, CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return id, secret
}

// confTokens runs the authorization code flow for the confidential client e.conf.
func (e *env) confTokens() tokenResponse {
	e.t.Helper()
	redirect := e.conf.RedirectURIs[0]
	code, verifier := e.code(redirect, url.Values{"client_id": {e.conf.ID}})
	resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {redirect}}, e.conf.ID, e.confSecret)
	tok := decode[tokenResponse](e.t, resp)
	if resp.StatusCode != http.StatusOK || tok.RefreshToken == "" {
		e.t.Fatalf("token: %d %+v", resp.StatusCode, tok)
	}
	return tok
}

// TestRFC7662_4_IntrospectionRequiresAuthorization pins RFC 7662 §4 ("the endpoint MUST also
// require some form of authorization"): with open dynamic client registration anyone can be
// an authenticated confidential client, so authentication alone does not let a client
// introspect. By default only static clients (created by the operator) may; dynamically
// registered and metadata-document clients get 403 unauthorized_client. A refresh token is
// active only for its own client (Config.IntrospectionAllowed).
func TestRFC7662_4_IntrospectionRequiresAuthorization(t *testing.T) {
	introspect := func(e *env, token, id, secret string) (int, introspection) {
		resp := e.postForm(e.issuer+"/introspect", url.Values{"token": {token}}, id, secret)
		if resp.StatusCode != http.StatusOK {
			er := decode[errorResponse](e.t, resp)
			if want := map[int]string{http.StatusForbidden: "unauthorized_client", http.StatusUnauthorized: "invalid_client"}[resp.StatusCode]; er.Error != want {
				e.t.Errorf("refused introspection: %d %q, want 403 unauthorized_client (or 401 invalid_client)", resp.StatusCode, er.Error)
			}
			return resp.StatusCode, introspection{}
		}
		return resp.StatusCode, decode[introspection](e.t, resp)
	}
	runEnv(t, func(t *testing.T, e *env) {
		victim := e.tokens(nil) // the public client's tokens
		for _, src := range []provider.ClientSource{provider.ClientSourceDynamic, provider.ClientSourceMetadataDocument, ""} {
			t.Run("a "+string(src)+" client is refused", func(t *testing.T) {
				id, secret := e.confidentialClient("attacker-"+string(src), src)
				want := http.StatusForbidden
				if src == provider.ClientSourceMetadataDocument {
					want = http.StatusUnauthorized // without Config.ClientResolver such a client is unknown
				}
				for name, token := range map[string]string{"access token": victim.AccessToken, "refresh token": victim.RefreshToken, "unknown token": "ory_at_x.y"} {
					if st, in := introspect(e, token, id, secret); st != want || in.Active {
						t.Errorf("%s: %d active=%v; want %d", name, st, in.Active, want)
					}
				}
			})
		}
		t.Run("a static client introspects access tokens of every client", func(t *testing.T) {
			if st, in := introspect(e, victim.AccessToken, e.rs.ID, e.rsSecret); st != http.StatusOK || !in.Active || in.ClientID != e.public.ID {
				t.Fatalf("%d %+v", st, in)
			}
		})
		t.Run("a refresh token is active only for its own client", func(t *testing.T) {
			if st, in := introspect(e, victim.RefreshToken, e.rs.ID, e.rsSecret); st != http.StatusOK || in.Active {
				t.Errorf("another client's refresh token: %d %+v; want active false", st, in)
			}
			if !e.refreshActive(victim.RefreshToken) {
				t.Fatal("the refresh token is not active")
			}
			own := e.confTokens()
			st, in := introspect(e, own.RefreshToken, e.conf.ID, e.confSecret)
			if st != http.StatusOK || !in.Active || in.TokenUse != "refresh_token" || in.ClientID != e.conf.ID || in.Sub != testSubject {
				t.Errorf("own refresh token: %d %+v; want active", st, in)
			}
			if st, in := introspect(e, own.RefreshToken, e.rs.ID, e.rsSecret); st != http.StatusOK || in.Active {
				t.Errorf("web-app's refresh token introspected by the resource server: %d %+v; want active false", st, in)
			}
		})
	})
	t.Run("Config.IntrospectionAllowed decides", func(t *testing.T) {
		runEnv(t, func(t *testing.T, e *env) {
			tok := e.tokens(nil)
			id, secret := e.confidentialClient("trusted-dynamic", provider.ClientSourceDynamic)
			if st, in := introspect(e, tok.AccessToken, id, secret); st != http.StatusOK || !in.Active {
				t.Errorf("allowed dynamic client: %d %+v; want active", st, in)
			}
			if st, in := introspect(e, tok.RefreshToken, id, secret); st != http.StatusOK || in.Active {
				t.Errorf("allowed dynamic client, another client's refresh token: %d %+v; want active false", st, in)
			}
			if st, _ := introspect(e, tok.AccessToken, e.rs.ID, e.rsSecret); st != http.StatusForbidden {
				t.Errorf("refused static client: %d; want 403", st)
			}
		}, func(_ *env, cfg *provider.Config) {
			cfg.IntrospectionAllowed = func(_ context.Context, c *provider.Client) bool { return c.ID == "trusted-dynamic" }
		})
	})
}
