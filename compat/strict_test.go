package compat_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Under compat.Strict, a client that follows the specifications logs in, calls and
// refreshes: discovery (PRM, RFC 8414 metadata listing offline_access), DCR with scope,
// authorization with resource, scope (from PRM, plus offline_access) and a long state on
// a loopback IP port (RFC 8252 §7.3), code exchange and refresh with resource.
func TestStrict_SpecConformingFlow(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		s := newStack(t, store, compat.Strict())
		var prm resourceserver.ProtectedResourceMetadata
		getJSON(t, s, s.Base+"/.well-known/oauth-protected-resource/mcp", &prm)
		var meta provider.AuthorizationServerMetadata
		getJSON(t, s, s.Base+"/.well-known/oauth-authorization-server/oauth", &meta)
		if prm.Resource != s.MCPURL || !slices.Contains(meta.ScopesSupported, provider.OfflineAccessScope) {
			t.Fatalf("PRM %+v, AS scopes %v", prm, meta.ScopesSupported)
		}
		scope := strings.Join(append(prm.ScopesSupported, provider.OfflineAccessScope), " ")
		reg := s.mustRegister(`{"client_name":"Conforming client","redirect_uris":["http://127.0.0.1/callback"],` +
			`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none",` +
			`"application_type":"native","scope":"` + scope + `"}`)
		redirect := "http://127.0.0.1:49200/callback"
		state := oauth2.GenerateVerifier()
		verifier, challenge := pkce()
		got := s.authorize(url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {state}, "scope": {scope}, "resource": {s.MCPURL}})
		if got.Get("code") == "" || got.Get("state") != state || got.Get("iss") != s.Issuer {
			t.Fatalf("authorization: %v", got)
		}
		tok := s.mustToken(url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "code_verifier": {verifier},
			"redirect_uri": {redirect}, "client_id": {reg.ClientID}, "resource": {s.MCPURL}})
		if tok.Scope != scope || tok.RefreshToken == "" {
			t.Errorf("token: scope %q, refresh token %v", tok.Scope, tok.RefreshToken != "")
		}
		if status, who := s.call(tok.AccessToken); status != http.StatusOK || who.Subject != subject || !equalStrings(who.Audience, s.MCPURL) {
			t.Errorf("MCP call %d %+v", status, who)
		}
		next := s.mustToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
			"client_id": {reg.ClientID}, "resource": {s.MCPURL}})
		if status, _ := s.call(next.AccessToken); status != http.StatusOK {
			t.Errorf("MCP call after refresh: %d", status)
		}
		if resp, _ := s.http.Get(s.Base + "/.well-known/oauth-authorization-server"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("root metadata under Strict: %d, want 404", resp.StatusCode)
		}
	})
}

// go-sdk's own client (auth.AuthorizationCodeHandler, v1.8.0) logs in under compat.Strict:
// it sends resource, the challenge's scope plus offline_access (the server advertises it),
// and a 26-character state. Its refresh sends no resource, which Strict refuses with
// invalid_target: go-sdk needs RefreshWithoutResource.
func TestStrict_GoSDKClientLogin(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		s := newStack(t, store, compat.Strict())
		ctx := context.Background()
		var (
			sdkConfig *oauth2.Config
			sdkCtx    context.Context
		)
		h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
			DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName: "go-sdk", RedirectURIs: []string{"http://127.0.0.1:8976/callback"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "none",
			}},
			AuthorizationCodeFetcher: func(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
				resp, err := s.http.Get(args.URL)
				if err != nil {
					return nil, err
				}
				resp.Body.Close()
				loc, err := url.Parse(resp.Header.Get("Location"))
				if err != nil {
					return nil, err
				}
				q := loc.Query()
				if q.Get("code") == "" {
					return nil, errors.New("authorization refused: " + q.Get("error") + " " + q.Get("error_description"))
				}
				return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
			},
			RequestRefreshToken: true,
			Client:              s.http,
			// What go-sdk does without this hook (cfg.TokenSource), keeping its config.
			NewTokenSource: func(ctx context.Context, cfg *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
				sdkConfig, sdkCtx = cfg, ctx
				return cfg.TokenSource(ctx, tok), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, s.MCPURL, strings.NewReader(`{}`))
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unauthenticated call: %d", resp.StatusCode)
		}
		if err := h.Authorize(ctx, req, resp); err != nil {
			t.Fatalf("go-sdk Authorize under Strict: %v", err)
		}
		ts, _ := h.TokenSource(ctx)
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if status, who := s.call(tok.AccessToken); status != http.StatusOK || !equalStrings(who.Audience, s.MCPURL) ||
			!slices.Contains(who.Scopes, scopeRead) || !slices.Contains(who.Scopes, provider.OfflineAccessScope) {
			t.Errorf("MCP call %d %+v", status, who)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token despite offline_access")
		}
		// go-sdk's refresh: its oauth2.Config's token source, once the access token expired.
		stale := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
		_, err = sdkConfig.TokenSource(sdkCtx, stale).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_target" {
			t.Errorf("go-sdk refresh under Strict: %v; want invalid_target (go-sdk sends no resource)", err)
		}
	})
}
