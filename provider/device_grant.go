package provider

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// deviceGrant is the token endpoint handler of the device_code grant (RFC 8628 §3.4,
// §3.5). HandleTokenEndpointRequest records the poll (slow_down is enforced per device
// code in storage, so across replicas) and answers authorization_pending, slow_down,
// access_denied or expired_token until the user approved; then it loads the approved
// grant into the request. PopulateTokenEndpointResponse consumes the device code with a
// conditional write (one winner under concurrent polling) in the transaction that
// stores the access and refresh tokens, like fosite's code exchange.
type deviceGrant struct{ p *Provider }

var _ fosite.TokenEndpointHandler = (*deviceGrant)(nil)

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (g *deviceGrant) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantTypeDeviceCode)
}

// CanSkipClientAuth implements fosite.TokenEndpointHandler: clients authenticate as they
// registered (public clients by client_id).
func (g *deviceGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (g *deviceGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	ar, sess, err := grantRequest(r, GrantTypeDeviceCode)
	if err != nil {
		return err
	}
	client := r.GetClient()
	if !client.GetGrantTypes().Has(GrantTypeDeviceCode) {
		return fosite.ErrUnauthorizedClient.WithHint("The client is not allowed to use the device authorization grant.")
	}
	d := g.p.device
	sig, err := d.deviceCodeSignature(ctx, r.GetRequestForm().Get("device_code"))
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	auth, tooFast, err := d.store.PollDeviceAuthorization(ctx, sig, client.GetID(), now, DeviceSlowDownStep)
	switch {
	case errors.Is(err, fosite.ErrNotFound):
		return fosite.ErrInvalidGrant.WithHint("The device code is unknown or was issued to another client.")
	case err != nil:
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	switch {
	case auth.Status == DeviceStatusConsumed:
		return fosite.ErrInvalidGrant.WithHint("The device code was already used.")
	case !now.Before(auth.ExpiresAt):
		return ErrExpiredToken
	case auth.Status == DeviceStatusDenied:
		return ErrDeviceAccessDenied
	case auth.Status == DeviceStatusApproved:
		// Issued below, whatever the pace: the conditional consume picks one winner.
	case tooFast:
		return ErrSlowDown
	default:
		return ErrAuthorizationPending
	}

	resources := append([]string(nil), auth.Resources...)
	narrowed, err := g.p.narrowAudience(r.GetRequestForm()["resource"], resources)
	if err != nil {
		return err
	}
	// The grant (user × client × resources) was recorded at approval (ApproveDevice), so
	// that revoking it stops the device code; it is recorded again here, before its tokens
	// exist and outside the transaction that issues them (an update of the same request),
	// for an authorization approved by a version that recorded grants only here. A poll
	// that then loses the race for the device code leaves a request without tokens, which
	// Purge removes.
	if err := g.p.recordApproval(ctx, auth.RequestID, client.GetID(), auth.Subject, auth.GrantedScopes, resources, auth.ExpiresAt, false); err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	ar.ID = auth.RequestID
	ar.SetRequestedScopes(auth.Scopes)
	ar.SetRequestedAudience(resources)
	sess.Subject = auth.Subject
	access := fosite.Arguments(append([]string(nil), auth.GrantedScopes...))
	if len(r.GetRequestForm()["resource"]) > 0 {
		if allowed, ok := g.p.audienceScopes(narrowed); ok {
			access = keep(access, allowed)
		}
	}
	for _, s := range access {
		ar.GrantScope(s)
	}
	for _, a := range narrowed {
		ar.GrantAudience(a)
	}
	// The refresh token keeps the grant's whole scope (see grantscope.go).
	ar.Form.Set(deviceGrantScopesForm, strings.Join(auth.GrantedScopes, " "))

	g.p.setTokenExpiry(ctx, sess, client, GrantTypeDeviceCode, now, true)
	return nil
}

// deviceGrantScopesForm carries the grant's whole scope from HandleTokenEndpointRequest
// to PopulateTokenEndpointResponse in the request form; it is removed before anything
// is stored.
const deviceGrantScopesForm = "_device_grant_scope"

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler.
func (g *deviceGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) (err error) {
	if !g.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	p := g.p
	form := r.GetRequestForm()
	grant := ParseScope(form.Get(deviceGrantScopesForm))
	form.Del(deviceGrantScopesForm)
	if len(grant) != len(r.GetGrantedScopes()) {
		ctx = withGrantScopes(ctx, &grantScopes{scopes: append(fosite.Arguments{}, grant...)})
	}
	sig, err := p.device.deviceCodeSignature(ctx, form.Get("device_code"))
	if err != nil {
		return err
	}
	access, accessSig, err := p.strategy.GenerateAccessToken(ctx, r)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	var refresh, refreshSig string
	if g.canIssueRefreshToken(ctx, r, grant) {
		if refresh, refreshSig, err = p.strategy.GenerateRefreshToken(ctx, r); err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
	}
	store := fositeStore{Storage: p.store}
	err = p.inWriteTx(ctx, func(ctx context.Context) error {
		if err := p.device.store.ConsumeDeviceAuthorization(ctx, sig); err != nil {
			return err
		}
		if err := store.CreateAccessTokenSession(ctx, accessSig, r.Sanitize([]string{})); err != nil {
			return err
		}
		if refreshSig == "" {
			return nil
		}
		return store.CreateRefreshTokenSession(ctx, refreshSig, accessSig, r.Sanitize([]string{}))
	})
	if errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrSerializationFailure) {
		return fosite.ErrInvalidGrant.WithHint("The device code was already used.")
	}
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("bearer")
	if exp := r.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		resp.SetExpiresIn(time.Until(exp).Round(time.Second))
	}
	resp.SetScopes(r.GetGrantedScopes())
	if refresh != "" {
		resp.SetExtra("refresh_token", refresh)
	}
	return nil
}

// canIssueRefreshToken applies fosite's rule for the code flow: the client may use the
// refresh_token grant and, with Config.RefreshTokenScopes, the grant has one of them.
func (g *deviceGrant) canIssueRefreshToken(ctx context.Context, r fosite.AccessRequester, grant []string) bool {
	if scopes := g.p.fcfg.GetRefreshTokenScopes(ctx); len(scopes) > 0 && !fosite.Arguments(grant).HasOneOf(scopes...) {
		return false
	}
	return r.GetClient().GetGrantTypes().Has("refresh_token")
}
