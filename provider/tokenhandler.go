package provider

import (
	"context"
	"time"

	"github.com/ory/fosite"
)

// accessRequest returns r as fosite's own *AccessRequest, the only kind fosite's token
// endpoint builds; our handlers need it to set the requested scopes and audience.
func accessRequest(r fosite.AccessRequester) (*fosite.AccessRequest, error) {
	ar, ok := r.(*fosite.AccessRequest)
	if !ok {
		return nil, fosite.ErrServerError.WithDebug("unexpected access request type")
	}
	return ar, nil
}

// grantRequest is the preamble of our grant handlers' HandleTokenEndpointRequest: a
// request of another grant type is fosite.ErrUnknownRequest (fosite then asks the next
// handler); otherwise it returns the access request and its *Session.
func grantRequest(r fosite.AccessRequester, grantType string) (*fosite.AccessRequest, *Session, error) {
	if !r.GetGrantTypes().ExactOne(grantType) {
		return nil, nil, fosite.ErrUnknownRequest
	}
	ar, err := accessRequest(r)
	if err != nil {
		return nil, nil, err
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return nil, nil, fosite.ErrServerError.WithDebug("unexpected session type")
	}
	return ar, sess, nil
}

// setTokenExpiry sets the access token's expiry on sess and, when refresh is true and
// refresh tokens expire, the refresh token's, from the client's (or the provider's)
// lifespans for grantType, counted from now.
func (p *Provider) setTokenExpiry(ctx context.Context, sess *Session, client fosite.Client, grantType string, now time.Time, refresh bool) {
	gt := fosite.GrantType(grantType)
	atLifespan := fosite.GetEffectiveLifespan(client, gt, fosite.AccessToken, p.fcfg.GetAccessTokenLifespan(ctx))
	sess.SetExpiresAt(fosite.AccessToken, now.Add(atLifespan).Round(time.Second))
	if !refresh {
		return
	}
	rtLifespan := fosite.GetEffectiveLifespan(client, gt, fosite.RefreshToken, p.fcfg.GetRefreshTokenLifespan(ctx))
	if rtLifespan > -1 {
		sess.SetExpiresAt(fosite.RefreshToken, now.Add(rtLifespan).Round(time.Second))
	}
}

// unknownWithoutStack is a fosite token endpoint handler that answers a token response
// for a request it cannot handle with fosite.ErrUnknownRequest as it is. fosite asks every
// handler to populate every token response, and its own handlers wrap that error with a
// stack trace each time (errorsx.WithStack: a stack walk and three allocations per
// handler and request); fosite then only tests the error with errors.Is.
type unknownWithoutStack struct {
	fosite.TokenEndpointHandler
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler.
func (h unknownWithoutStack) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}

// clientCredentialsGrant is fosite's client credentials handler (without stack traces, as
// unknownWithoutStack) that first refuses a client which may not use the grant, a public
// client or one without client_credentials among its grant types, with
// unauthorized_client (RFC 6749 §5.2; §4.4: confidential clients only). fosite answers a
// public client invalid_grant, which says the grant itself was bad.
type clientCredentialsGrant struct {
	unknownWithoutStack
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h clientCredentialsGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if h.CanHandleTokenEndpointRequest(ctx, r) {
		if c := r.GetClient(); c.IsPublic() || !c.GetGrantTypes().Has(string(fosite.GrantTypeClientCredentials)) {
			return fosite.ErrUnauthorizedClient.WithHint("Only a confidential client registered for the client_credentials grant may use it.")
		}
	}
	return h.unknownWithoutStack.HandleTokenEndpointRequest(ctx, r)
}
