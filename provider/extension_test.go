package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestAccessTokenStrategyExtension: Config.AccessTokenStrategy swaps the access token
// format (here fosite's JWT strategy) without changing anything else: the code grant,
// refresh, VerifyAccessToken and introspection keep working, with the audience in the JWT.
func TestAccessTokenStrategyExtension(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	strategy := func(hmac oauth2.CoreStrategy, cfg *fosite.Config) oauth2.AccessTokenStrategy {
		return compose.NewOAuth2JWTStrategy(func(context.Context) (interface{}, error) { return key, nil }, hmac, cfg)
	}
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tok := e.tokens(nil)
		if strings.Count(tok.AccessToken, ".") != 2 || strings.HasPrefix(tok.AccessToken, "ory_at_") {
			t.Fatalf("access token is not a JWT: %.20q", tok.AccessToken)
		}
		at, err := e.p.VerifyAccessToken(ctx, tok.AccessToken)
		if err != nil || at.Subject != testSubject || !slices.Equal(at.Audience, []string{e.resource}) {
			t.Fatalf("VerifyAccessToken: %+v %v", at, err)
		}
		if in := e.introspect(tok.AccessToken); !in.Active || in.Sub != testSubject {
			t.Fatalf("introspection %+v", in)
		}
		resp, tok2 := e.refresh(tok.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK || tok2.AccessToken == tok.AccessToken {
			t.Fatalf("refresh %d %+v", resp.StatusCode, tok2)
		}
		if _, err := e.p.VerifyAccessToken(ctx, tok2.AccessToken); err != nil {
			t.Fatal(err)
		}
	}, func(_ *env, cfg *provider.Config) { cfg.AccessTokenStrategy = strategy })
}

// exampleGrant is a token endpoint handler for an extension grant type.
type exampleGrant struct{}

func (exampleGrant) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne("urn:example:grant")
}
func (exampleGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }
func (g exampleGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !g.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return nil
}
func (g exampleGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !g.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	resp.SetAccessToken("example")
	resp.SetTokenType("bearer")
	return nil
}

// TestTokenEndpointHandlersExtension: extra handlers run after the built-in ones and
// their grant types are accepted.
func TestTokenEndpointHandlersExtension(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {"urn:example:grant"}}, e.conf.ID, e.confSecret)
		if tr := decode[tokenResponse](t, resp); resp.StatusCode != http.StatusOK || tr.AccessToken != "example" {
			t.Fatalf("%d %+v", resp.StatusCode, tr)
		}
		wantJSONError(t, e.postForm(e.issuer+"/token", url.Values{"grant_type": {"urn:example:other"}}, e.conf.ID, e.confSecret), 400, "unsupported_grant_type")
	}, func(_ *env, cfg *provider.Config) {
		cfg.TokenEndpointHandlers = []fosite.TokenEndpointHandler{exampleGrant{}}
	})
}
