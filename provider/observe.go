package provider

import (
	"context"
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// This file holds the provider's side of the observation seam (package observe): the
// helpers its endpoints call, one line each, at the points where something happens.

// Observer returns the observer the provider reports to (Config.Observer joined with the
// audit trail of Config.Audit), nil when observation is off. Extensions that act on the
// provider's behalf (a grants API, a consent page) report through it, e.g.
// observe.GrantRevoked.
func (p *Provider) Observer() observe.Observer { return p.obs }

// observe reports e when observation is on.
func (p *Provider) observe(ctx context.Context, e observe.Event) {
	if p.obs != nil {
		p.obs.Observe(ctx, e)
	}
}

// noteError records the OAuth error code of the response w carries (observe.NoteError).
func noteError(w http.ResponseWriter, code string) { observe.NoteError(w, code) }

// observeStorage reports a request that ended with 503 because storage was unavailable;
// where says what failed (a fixed phrase such as "token endpoint").
func (p *Provider) observeStorage(ctx context.Context, where string) {
	p.observe(ctx, observe.Event{Kind: observe.StorageError, Reason: where})
}

// route wraps an endpoint handler for Request events (observe.Handler).
func (p *Provider) route(endpoint string, h http.HandlerFunc) http.Handler {
	return observe.Handler(p.obs, endpoint, h)
}

// observeToken reports a token request's outcome: TokensIssued when err is nil, else
// TokenRefused and, when fosite revoked the grant because a rotated refresh token came
// back, RefreshReuseDetected.
func (p *Provider) observeToken(ctx context.Context, grantType string, ar fosite.AccessRequester, err error) {
	if p.obs == nil {
		return
	}
	var clientID, subject string
	if ar != nil {
		if c := ar.GetClient(); c != nil {
			clientID = c.GetID()
		}
		if s := ar.GetSession(); s != nil {
			subject = s.GetSubject()
		}
	}
	if err == nil {
		p.obs.Observe(ctx, observe.Event{Kind: observe.TokensIssued, GrantType: grantType, ClientID: clientID,
			Subject: subject, Scopes: ar.GetGrantedScopes(), Resources: ar.GetGrantedAudience()})
		return
	}
	reuse := grantType == "refresh_token" && errors.Is(err, fosite.ErrInactiveToken)
	if reuse && subject == "" && ar != nil {
		subject = p.refreshTokenSubject(ctx, ar.GetRequestForm().Get("refresh_token"))
	}
	p.obs.Observe(ctx, observe.Event{Kind: observe.TokenRefused, GrantType: grantType, ClientID: clientID,
		Subject: subject, ErrorCode: fosite.ErrorToRFC6749Error(err).ErrorField})
	if reuse {
		// fosite's refresh handler revoked every token of the grant (RFC 9700 §4.14.2).
		p.obs.Observe(ctx, observe.Event{Kind: observe.RefreshReuseDetected, GrantType: grantType, ClientID: clientID,
			Subject: subject})
	}
}

// refreshTokenSubject returns the user of the grant the refresh token rt belonged to, read
// from its stored (inactive) row; "" when it cannot be read. Only a detected reuse, which
// is rare, pays for this read: fosite's refresh handler does not hand the stored session back.
func (p *Provider) refreshTokenSubject(ctx context.Context, rt string) string {
	if rt == "" {
		return ""
	}
	stored, _ := p.store.GetRefreshTokenSession(ctx, p.strategy.RefreshTokenSignature(ctx, rt), NewSession(""))
	if stored == nil || stored.GetSession() == nil {
		return ""
	}
	return stored.GetSession().GetSubject()
}

// observeLogin reports a password check on a pending authorization request.
func (p *Provider) observeLogin(ctx context.Context, clientID, subject string, err error) {
	switch {
	case p.obs == nil:
	case err == nil:
		p.obs.Observe(ctx, observe.Event{Kind: observe.LoginSucceeded, ClientID: clientID, Subject: subject})
	case errors.Is(err, ErrLoginFailed):
		p.obs.Observe(ctx, observe.Event{Kind: observe.LoginFailed, ClientID: clientID, Reason: "wrong_password"})
	case errors.Is(err, ErrTooManyLoginAttempts):
		p.obs.Observe(ctx, observe.Event{Kind: observe.LoginFailed, ClientID: clientID, Reason: "too_many_attempts"})
	}
}

// observeConsent reports an approved or denied authorization request, decided by
// subject ("" when a denial's caller did not say who); reason is "auto_approve" when
// Config.AutoApprove decided.
func (p *Provider) observeConsent(ctx context.Context, ar fosite.Requester, approved bool, subject string, scopes []string, reason string) {
	if p.obs == nil || ar == nil || ar.GetClient() == nil {
		return
	}
	e := observe.Event{Kind: observe.ConsentDenied, ClientID: ar.GetClient().GetID(), GrantType: "authorization_code",
		Resources: ar.GetRequestedAudience(), Subject: subject, Reason: reason}
	if approved {
		e.Kind, e.Scopes = observe.ConsentApproved, scopes
	}
	p.obs.Observe(ctx, e)
}

// observeDeviceConsent reports an approved or denied device authorization (RFC 8628),
// decided by subject ("" when a denial's caller did not say who).
func (p *Provider) observeDeviceConsent(ctx context.Context, req *DeviceRequest, approved bool, subject string, scopes []string) {
	if p.obs == nil || req == nil {
		return
	}
	e := observe.Event{Kind: observe.ConsentDenied, ClientID: req.ClientID, GrantType: GrantTypeDeviceCode, Resources: req.Resources, Subject: subject}
	if approved {
		e.Kind, e.Scopes = observe.ConsentApproved, scopes
	}
	p.obs.Observe(ctx, e)
}

// deviceRequestObserved returns the pending device authorization for userCode when
// observation is on (for the ConsentDenied event's client), nil otherwise.
func (p *Provider) deviceRequestObserved(ctx context.Context, userCode string) *DeviceRequest {
	if p.obs == nil {
		return nil
	}
	req, _ := p.DeviceRequest(ctx, userCode)
	return req
}

// observeRevocation reports an accepted RFC 7009 revocation request. The client is the
// one the request authenticated as (fosite checked it), read from the Basic header or
// the form, as it never carries a secret.
func (p *Provider) observeRevocation(r *http.Request) {
	if p.obs == nil {
		return
	}
	clientID := r.PostForm.Get("client_id")
	if id, _, err := ParseBasicAuth(r.Header.Get("Authorization")); err == nil {
		clientID = id
	}
	reason := r.PostForm.Get("token_type_hint")
	if reason != "access_token" && reason != "refresh_token" {
		reason = "" // the hint is client input; only its two defined values are reported
	}
	p.obs.Observe(r.Context(), observe.Event{Kind: observe.TokenRevoked, Endpoint: observe.EndpointRevocation, ClientID: clientID, Reason: reason})
}
