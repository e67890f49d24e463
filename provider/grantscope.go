package provider

import (
	"context"
	"slices"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
)

// Narrowed access tokens, whole refresh tokens
//
// A token request may ask for less than the grant: `resource` (RFC 8707 §2.2) names a
// part of the grant's audience, `scope` on a refresh (RFC 6749 §6) a subset of its
// scopes. The access token then carries only that: the requested scopes, and of those
// only the ones Config.ScopesForAudience allows for the narrowed audience (a scope
// defined by a resource left out would otherwise ride along and, under a scope
// hierarchy, satisfy a remaining resource's scope). The refresh token issued with it
// keeps the grant's whole scope (RFC 6749 §6: "the refresh token scope MUST be
// identical to that of the refresh token included by the client in the request"; OAuth
// 2.1 §4.3 says the same), so a later refresh without `scope` or `resource` gets the
// whole grant again. fosite stores one request for both tokens; the grant's scopes reach
// the refresh token through the context (withGrantScopes, read by
// fositeStore.CreateRefreshTokenSession).

type grantScopesKey struct{}

// grantScopes carries the grant's whole scope from a grant handler's
// PopulateTokenEndpointResponse to the storage of the refresh token it issues.
type grantScopes struct {
	scopes fosite.Arguments
}

// withGrantScopes returns ctx carrying g for fositeStore.CreateRefreshTokenSession.
func withGrantScopes(ctx context.Context, g *grantScopes) context.Context {
	return context.WithValue(ctx, grantScopesKey{}, g)
}

// CreateRefreshTokenSession implements fosite's RefreshTokenStorage: the refresh token is
// stored with the grant's whole scope when the access token issued with it was narrowed
// (see withGrantScopes). A storage failure is noted for the 503 answer (storagefault.go). In
// a token response that collects its writes (collector) the token is stored with them.
func (s fositeStore) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	if g, ok := ctx.Value(grantScopesKey{}).(*grantScopes); ok && g.scopes != nil {
		if r, ok := req.(*fosite.Request); ok {
			cp := *r
			cp.GrantedScope = append(fosite.Arguments{}, g.scopes...)
			req = &cp
		}
	}
	if collected, err := issueRefresh(ctx, signature, accessSignature, req); collected {
		return err
	}
	return noteStorage(ctx, s.Storage.CreateRefreshTokenSession(ctx, signature, accessSignature, req))
}

// audienceScopes returns the scopes a token whose audience is audience may carry
// (Config.ScopesForAudience), and whether there is such a limit.
func (p *Provider) audienceScopes(audience []string) ([]string, bool) {
	if p.cfg.ScopesForAudience == nil {
		return nil, false
	}
	return p.cfg.ScopesForAudience(append([]string(nil), audience...)), true
}

// refreshGrant is fosite's refresh token handler with RFC 6749 §6 `scope`: a subset of the
// grant's scopes narrows the access token, anything beyond the grant is invalid_scope
// before the refresh token is rotated. With `resource` the access token's scopes are also
// limited to those of its narrowed audience (Config.ScopesForAudience). The new refresh
// token keeps the grant's whole scope.
type refreshGrant struct {
	*oauth2.RefreshTokenGrantHandler
	p *Provider
}

func (p *Provider) refreshGrantFactory(config fosite.Configurator, storage interface{}, strategy interface{}) interface{} {
	return &refreshGrant{compose.OAuth2RefreshTokenGrantFactory(config, storage, strategy).(*oauth2.RefreshTokenGrantHandler), p}
}

// requestedScope returns the scopes of the token request's `scope` parameter, and
// whether a non-empty one was sent (an empty one means the grant's scope, RFC 6749 §6).
func requestedScope(r fosite.AccessRequester) ([]string, bool) {
	s := ParseScope(r.GetRequestForm().Get("scope"))
	return s, len(s) > 0
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler: fosite's refresh
// handler loads the grant; then every requested scope must be one of the grant's
// (RFC 6749 §6: "MUST NOT include any scope not originally granted").
func (g *refreshGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if err := g.RefreshTokenGrantHandler.HandleTokenEndpointRequest(ctx, r); err != nil {
		return err
	}
	requested, ok := requestedScope(r)
	if !ok {
		return nil
	}
	for _, s := range requested {
		if !slices.Contains(r.GetGrantedScopes(), s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted; a refresh may only ask for a subset of the grant's scopes.", s)
		}
	}
	return nil
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler: it narrows the
// access token's scopes (see refreshGrant) and has fosite issue the tokens, recording the
// grant's use in the same transaction (issueAndRecordUse).
func (g *refreshGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !g.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest // as it is: see unknownWithoutStack
	}
	ar, err := accessRequest(r)
	if err != nil {
		return err
	}
	grant := append(fosite.Arguments{}, ar.GetGrantedScopes()...)
	access := grant
	requested, narrowScope := requestedScope(r)
	if narrowScope {
		access = keep(access, requested)
	}
	if len(r.GetRequestForm()["resource"]) > 0 {
		if allowed, ok := g.p.audienceScopes(ar.GetGrantedAudience()); ok {
			for _, s := range requested {
				if !slices.Contains(allowed, s) {
					return fosite.ErrInvalidScope.WithHintf("The scope '%s' is not defined by the requested resource.", s)
				}
			}
			access = keep(access, allowed)
		}
	}
	if len(access) != len(grant) {
		ar.GrantedScope = access
		ctx = withGrantScopes(ctx, &grantScopes{scopes: grant})
	}
	return g.p.issueAndRecordUse(ctx, r, resp, func(ctx context.Context) error {
		return g.RefreshTokenGrantHandler.PopulateTokenEndpointResponse(ctx, r, resp)
	})
}

// keep returns the members of list that are in allowed, in list's order.
func keep(list fosite.Arguments, allowed []string) fosite.Arguments {
	out := fosite.Arguments{}
	for _, s := range list {
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	return out
}
