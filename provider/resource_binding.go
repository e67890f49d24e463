package provider

import (
	"context"
	"slices"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
)

// resolveResource maps one RFC 8707 `resource` value to the configured resource it
// names: its canonical form must be one of Config.Resources, or Config.MatchResource must
// map it to one. Anything else is invalid_target.
func (p *Provider) resolveResource(raw string) (string, error) {
	cr, err := CanonicalResource(raw)
	if err != nil {
		return "", ErrInvalidTarget.WithHint("The 'resource' parameter must be an absolute URI without a fragment.")
	}
	if p.resources[cr] {
		return cr, nil
	}
	if p.cfg.MatchResource != nil {
		if m, ok := p.cfg.MatchResource(cr); ok {
			if mc, err := CanonicalResource(m); err == nil && p.resources[mc] {
				return mc, nil
			}
		}
	}
	return "", ErrInvalidTarget.WithHintf("The resource '%s' is not served by this authorization server.", cr)
}

// canonicalResources resolves RFC 8707 resource values (see resolveResource) to
// configured resources; otherwise it returns invalid_target. Duplicates are dropped.
func (p *Provider) canonicalResources(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		cr, err := p.resolveResource(r)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, cr) {
			out = append(out, cr)
		}
	}
	return out, nil
}

// resourceHandler is a fosite token endpoint handler enforcing RFC 8707 at the token
// endpoint. It runs after the grant handlers (which load the grant and set its bound
// audience as the requested audience) and before the PKCE handler and every
// PopulateTokenEndpointResponse, so a refused `resource` neither consumes the code nor
// rotates the refresh token: invalid_target is retryable.
//
//   - authorization_code and refresh_token: every `resource` must be in the grant's
//     bound audience; the access token's audience is narrowed to them. Without
//     `resource` the token gets the whole bound audience, unless
//     Config.RequireResourceOnCodeExchange / RequireResourceOnRefresh demand one.
//   - client_credentials: every `resource` must be a configured resource (or in the
//     client's audience); none means Config.DefaultResource, if set (else
//     invalid_target when Config.RequireResource is set). Requested scopes (already
//     checked by fosite against the client) are granted, but with
//     Config.ScopesForAudience only those it allows for the token's audience: the others
//     are dropped (the response's `scope` says what was issued, RFC 6749 §3.3), and
//     when none remains the request is invalid_scope.
type resourceHandler struct{ p *Provider }

var _ fosite.TokenEndpointHandler = (*resourceHandler)(nil)

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler: it handles the built-in grants.
func (h *resourceHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	gt := r.GetGrantTypes()
	return gt.ExactOne("authorization_code") || gt.ExactOne("refresh_token") || gt.ExactOne("client_credentials")
}

// CanSkipClientAuth implements fosite.TokenEndpointHandler: it never skips client authentication.
func (h *resourceHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler: it checks and applies the token request's resources.
func (h *resourceHandler) HandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) error {
	ar, err := accessRequest(r)
	if err != nil {
		return err
	}
	if r.GetGrantTypes().ExactOne("client_credentials") {
		resources, err := h.clientResources(r)
		if err != nil {
			return err
		}
		ar.SetRequestedAudience(resources)
		ar.GrantedAudience = fosite.Arguments{}
		for _, a := range resources {
			ar.GrantAudience(a)
		}
		requested, granted := r.GetRequestedScopes(), r.GetRequestedScopes()
		if allowed, limited := h.p.audienceScopes(resources); limited {
			granted = keep(requested, allowed)
			if len(granted) == 0 && len(requested) > 0 {
				return fosite.ErrInvalidScope.WithHint("None of the requested scopes is defined by the requested resource.")
			}
		}
		for _, s := range granted {
			ar.GrantScope(s)
		}
		return nil
	}
	requested := r.GetRequestForm()["resource"]
	if len(requested) == 0 {
		gt := r.GetGrantTypes()
		if gt.ExactOne("authorization_code") && h.p.cfg.RequireResourceOnCodeExchange ||
			gt.ExactOne("refresh_token") && h.p.cfg.RequireResourceOnRefresh {
			return ErrInvalidTarget.WithHint("The 'resource' parameter is required.")
		}
	}
	bound := r.GetRequestedAudience()
	narrowed, err := h.p.narrowAudience(requested, bound)
	if err != nil {
		return err
	}
	if r.GetGrantTypes().ExactOne("refresh_token") {
		// fosite granted the previous token's audience; grant the requested narrowing, or
		// the grant's whole bound audience when no resource is named (RFC 8707 §2.2).
		ar.GrantedAudience = fosite.Arguments{}
		for _, a := range narrowed {
			ar.GrantAudience(a)
		}
	}
	// For authorization_code, codeGrant narrows while populating the response.
	return nil
}

func (h *resourceHandler) clientResources(r fosite.AccessRequester) ([]string, error) {
	out := []string{}
	for _, raw := range r.GetRequestForm()["resource"] {
		cr, err := h.p.resolveResource(raw)
		if err != nil {
			// The client's own audience list extends the registry for this grant.
			c, cerr := CanonicalResource(raw)
			if cerr != nil || !slices.Contains(r.GetClient().GetAudience(), c) {
				return nil, err
			}
			cr = c
		}
		if !slices.Contains(out, cr) {
			out = append(out, cr)
		}
	}
	if len(out) == 0 && h.p.cfg.DefaultResource != "" {
		out = append(out, h.p.cfg.DefaultResource)
	}
	if len(out) == 0 && h.p.cfg.RequireResource {
		return nil, ErrInvalidTarget.WithHint("The 'resource' parameter is required.")
	}
	return out, nil
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler: it adds nothing to the response.
func (h *resourceHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

// narrowAudience returns the audience a token request may receive: the configured
// resources the `resource` values name (see resolveResource), each of which must be in
// bound, or bound itself when there are none.
func (p *Provider) narrowAudience(resources []string, bound []string) ([]string, error) {
	if len(resources) == 0 {
		return append([]string{}, bound...), nil
	}
	out := make([]string, 0, len(resources))
	for _, raw := range resources {
		cr, err := p.resolveResource(raw)
		if err != nil {
			c, cerr := CanonicalResource(raw)
			if cerr != nil || !slices.Contains(bound, c) { // bound may hold a client audience
				return nil, err
			}
			cr = c
		}
		if !slices.Contains(bound, cr) {
			return nil, ErrInvalidTarget.WithHintf("The resource '%s' was not authorized for this grant.", cr)
		}
		if !slices.Contains(out, cr) {
			out = append(out, cr)
		}
	}
	return out, nil
}

// codeGrant is fosite's authorization code handler, with the token response limited to
// the audience named by the token request's `resource` parameters (RFC 8707 §2.2) and to
// the scopes Config.ScopesForAudience allows for that audience; the refresh token keeps
// the grant's whole scope (see grantscope.go). resourceHandler has already checked the
// resources against the code's bound audience.
type codeGrant struct {
	*oauth2.AuthorizeExplicitGrantHandler
	p *Provider
}

func (p *Provider) codeGrantFactory(config fosite.Configurator, storage interface{}, strategy interface{}) interface{} {
	return &codeGrant{compose.OAuth2AuthorizeExplicitFactory(config, storage, strategy).(*oauth2.AuthorizeExplicitGrantHandler), p}
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler; the grant's use
// is recorded in the transaction that issues the tokens (issueAndRecordUse).
func (c *codeGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !c.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest // as it is: see unknownWithoutStack
	}
	if len(r.GetRequestForm()["resource"]) > 0 {
		allowed, err := c.p.narrowAudience(r.GetRequestForm()["resource"], r.GetRequestedAudience())
		if err != nil {
			return err
		}
		f := &grantFilter{AccessRequester: r, audience: allowed, grant: &grantScopes{scopes: fosite.Arguments{}}}
		f.scopes, f.limitScopes = c.p.audienceScopes(allowed)
		r = f
		ctx = withGrantScopes(ctx, f.grant)
	}
	return c.p.issueAndRecordUse(ctx, r, resp, func(ctx context.Context) error {
		return c.AuthorizeExplicitGrantHandler.PopulateTokenEndpointResponse(ctx, r, resp)
	})
}

// grantFilter grants only the allowed audiences and, when limitScopes is set, only the
// allowed scopes; it records every scope of the grant in grant (for the refresh token).
type grantFilter struct {
	fosite.AccessRequester
	audience    []string
	scopes      []string
	limitScopes bool
	grant       *grantScopes
}

// GrantAudience implements fosite.Requester.
func (a *grantFilter) GrantAudience(audience string) {
	if slices.Contains(a.audience, audience) {
		a.AccessRequester.GrantAudience(audience)
	}
}

// GrantScope implements fosite.Requester.
func (a *grantFilter) GrantScope(scope string) {
	a.grant.scopes = append(a.grant.scopes, scope)
	if !a.limitScopes || slices.Contains(a.scopes, scope) {
		a.AccessRequester.GrantScope(scope)
	}
}
