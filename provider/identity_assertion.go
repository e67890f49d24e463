package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/lists"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// GrantTypeJWTBearer is the RFC 7523 §2.1 grant type under which a client presents an
// Identity Assertion JWT Authorization Grant (ID-JAG) at the token endpoint.
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// GrantProfileIDJAG is the authorization grant profile advertised in the metadata's
// authorization_grant_profiles_supported when identity assertions are accepted
// (draft-ietf-oauth-identity-assertion-authz-grant §7.2; the MCP extension
// io.modelcontextprotocol/enterprise-managed-authorization §6).
const GrantProfileIDJAG = "urn:ietf:params:oauth:grant-profile:id-jag"

// IdentityAssertion is a validated ID-JAG: what an IdentityAssertionValidator returns
// and the token endpoint issues the access token from. package provider/idjag calls it
// idjag.Claims.
type IdentityAssertion struct {
	// Issuer is the trusted IdP's issuer (iss).
	Issuer string
	// Subject is sub as the IdP gave it (for the audit log).
	Subject string
	// Local is the local subject the token is issued to (the IdP subject mapped so that
	// two IdPs cannot produce the same one).
	Local string
	// ClientID is the client_id claim; it equals the authenticated client.
	ClientID string
	// JTI is the assertion ID; the token endpoint records ReplayKey until ReplayUntil so
	// the assertion is used once, on every replica.
	JTI string
	// Resource is the resource claim (RFC 8707 resource identifiers), empty when absent.
	Resource []string
	// Scopes are the scope claim's scopes.
	Scopes []string
	// Expiry is exp.
	Expiry time.Time
	// IssuedAt is iat.
	IssuedAt time.Time
	// ReplayUntil is the last instant the validator would still accept the assertion (exp
	// plus the tolerated skew): its jti is remembered until then. Zero means Expiry.
	ReplayUntil time.Time
}

// ReplayKey is the key under which the jti is recorded for single use (the storage's
// client assertion jti store), namespaced by "id-jag:" and the escaped issuer so that it
// collides neither with private_key_jwt assertions nor with another IdP's jtis.
func (a *IdentityAssertion) ReplayKey() string {
	return "id-jag:" + url.QueryEscape(a.Issuer) + ":" + a.JTI
}

// IdentityAssertionError is an assertion the validator refused. The token endpoint
// answers invalid_grant naming Check and writes the audit line; package provider/idjag
// calls it idjag.Error.
type IdentityAssertionError struct {
	// Check names the failed check; it is safe to show the client and never contains the
	// assertion.
	Check string
	// Issuer is the iss the assertion claims, when it could be read (for the audit log;
	// it may be untrusted).
	Issuer string
	// Subject is sub, set only once the signature verified (for the audit log).
	Subject string
	// Err is an underlying error for logs only (for example a subject mapping hook's):
	// it may say more than a client should read.
	Err error
}

// Unwrap returns Err.
func (e *IdentityAssertionError) Unwrap() error { return e.Err }

// Error implements error.
func (e *IdentityAssertionError) Error() string { return "id-jag: " + e.Check }

// IdentityAssertionValidator checks an ID-JAG for the authenticated client clientID and
// returns its claims, or an *IdentityAssertionError when it refuses it (any other error
// is a failure of the validator, answered server_error). It checks the JWS, the issuer,
// aud, the lifetime and client_id; the token endpoint then checks the resource and
// scopes and records the jti. idjag.New returns one.
type IdentityAssertionValidator interface {
	Validate(ctx context.Context, assertion, clientID string) (*IdentityAssertion, error)
}

// IdentityAssertionAudience is implemented by validators that accept assertions for one
// fixed aud (idjag.Validator: Options.Audience). provider.New refuses such a validator
// when its audience is not Config.Issuer: every assertion would otherwise be refused at
// the token endpoint (or, were aud some other server's, accepted for the wrong server).
type IdentityAssertionAudience interface {
	Audience() string
}

// IdentityAssertionGrant configures the RFC 7523 JWT bearer grant for ID-JAGs
// (Enterprise-Managed Authorization): a client presents an assertion its user's
// enterprise IdP issued and receives an access token without a consent page.
type IdentityAssertionGrant struct {
	// Validator validates the assertions (idjag.New with the trusted IdPs). Required.
	Validator IdentityAssertionValidator

	// IssueRefreshTokens also issues a refresh token (to clients allowed the
	// refresh_token grant, with Config.RefreshTokenScopes applying). Off by default: the
	// IdP decides about every access, so the client asks it for a fresh ID-JAG instead of
	// refreshing past a revoked entitlement.
	IssueRefreshTokens bool
}

// assertionGrant is the token endpoint handler of GrantTypeJWTBearer with ID-JAGs.
//
// The client authenticates as registered (secret, private_key_jwt, or none for public
// and CIMD clients) and must have GrantTypeJWTBearer in its registered grant_types (else
// unauthorized_client, RFC 6749 §5.2); the IdP's client_id claim must name it. The access
// token's audience is the assertion's resource claim (each a configured resource, else
// invalid_grant), narrowed by the request's `resource` (RFC 8707 §2.2, else
// invalid_target); without a resource claim it is the requested resource or
// Config.DefaultResource, as for client credentials. Its scopes are the requested ones
// (all of the assertion's when none are requested) that are in the assertion's scope
// claim, allowed for the audience (Config.ScopesForAudience, else Config.Scopes) and
// allowed to the client (extension §7.2.1); requesting scopes of which none remains is
// invalid_scope. The jti is recorded last, after every other check, so a refused request
// does not burn it. One audit log line is written per accepted or refused assertion.
type assertionGrant struct {
	p    *Provider
	opts IdentityAssertionGrant
}

var _ fosite.TokenEndpointHandler = (*assertionGrant)(nil)

// CanHandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (g *assertionGrant) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantTypeJWTBearer)
}

// CanSkipClientAuth implements fosite.TokenEndpointHandler: the client authenticates as
// it registered (public clients by client_id), as MCP's extension requires.
func (g *assertionGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

// audit is what the audit line of one assertion says.
type audit struct {
	issuer, subject, client string
	resource                []string
	scopes                  []string
}

func (g *assertionGrant) log(ctx context.Context, a audit, reason string) {
	attrs := []slog.Attr{
		slog.String("issuer", a.issuer), slog.String("subject", a.subject),
		slog.String("client_id", a.client), slog.String("resource", strings.Join(a.resource, " ")),
	}
	if reason == "" {
		attrs = append(attrs, slog.String("scope", strings.Join(a.scopes, " ")))
		g.p.log.LogAttrs(ctx, slog.LevelInfo, "id-jag accepted", attrs...)
		return
	}
	g.p.log.LogAttrs(ctx, slog.LevelWarn, "id-jag refused", append(attrs, slog.String("reason", reason))...)
}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (g *assertionGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	ar, sess, err := grantRequest(r, GrantTypeJWTBearer)
	if err != nil {
		return err
	}
	client := r.GetClient()
	a := audit{client: client.GetID()}
	if !client.GetGrantTypes().Has(GrantTypeJWTBearer) {
		// RFC 6749 §5.2: the client is not authorized to use this grant type. Checked
		// before the assertion, so that its jti stays unspent.
		g.log(ctx, a, "client not registered for the jwt-bearer grant")
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed to use the grant type '%s': register it in grant_types.", GrantTypeJWTBearer)
	}
	form := r.GetRequestForm()
	claims, err := g.opts.Validator.Validate(ctx, form.Get("assertion"), client.GetID())
	if err != nil {
		var refused *IdentityAssertionError
		if !errors.As(err, &refused) {
			// The IdP's key set could not be fetched: nothing the client did wrong, and
			// retryable once the IdP is back.
			g.log(ctx, a, "validator failed: "+err.Error())
			return fosite.ErrTemporarilyUnavailable.WithHint("The identity provider's keys are unavailable.").WithWrap(err).WithDebug(err.Error())
		}
		a.issuer, a.subject = refused.Issuer, refused.Subject
		reason := refused.Check
		if refused.Err != nil {
			reason += ": " + refused.Err.Error()
		}
		g.log(ctx, a, reason)
		return fosite.ErrInvalidGrant.WithHintf("The assertion was refused: %s.", refused.Check)
	}
	if claims == nil {
		return fosite.ErrServerError.WithDebug("the identity assertion validator returned neither claims nor an error")
	}
	a.issuer, a.subject, a.resource = claims.Issuer, claims.Subject, claims.Resource
	// The audit reason of a refusal is the hint the client reads.
	refuse := func(err *fosite.RFC6749Error) error {
		g.log(ctx, a, err.ErrorField+": "+err.HintField)
		return err
	}

	audience, rerr := g.audience(claims.Resource, form["resource"])
	a.resource = audience
	if rerr != nil {
		return refuse(rerr)
	}
	scopes, rerr := g.scopes(r, claims.Scopes, audience)
	if rerr != nil {
		return refuse(rerr)
	}
	a.scopes = scopes

	// Last: a request refused above leaves the jti unused.
	until := claims.ReplayUntil
	if until.IsZero() {
		until = claims.Expiry
	}
	if err := g.p.fstore.SetClientAssertionJWT(ctx, claims.ReplayKey(), until); err != nil {
		if errors.Is(err, fosite.ErrJTIKnown) {
			return refuse(fosite.ErrInvalidGrant.WithHint("The assertion was refused: jti was already used."))
		}
		g.log(ctx, a, "recording the jti failed")
		return err
	}

	ar.SetRequestedScopes(scopes)
	ar.SetRequestedAudience(audience)
	for _, s := range scopes {
		ar.GrantScope(s)
	}
	for _, aud := range audience {
		ar.GrantAudience(aud)
	}
	sess.Subject = claims.Local
	now := time.Now().UTC()
	g.p.setTokenExpiry(ctx, sess, client, GrantTypeJWTBearer, now, g.canIssueRefreshToken(ctx, r, scopes))
	g.log(ctx, a, "")
	return nil
}

// audience returns the access token's audience: the resource claim's resources (each a
// configured resource), narrowed by the requested ones; without the claim, the requested
// resources or Config.DefaultResource.
func (g *assertionGrant) audience(claimed, requested []string) ([]string, *fosite.RFC6749Error) {
	p := g.p
	if len(claimed) == 0 {
		out, err := p.canonicalResources(requested)
		if err != nil {
			return nil, fosite.ErrorToRFC6749Error(err)
		}
		if len(out) == 0 && p.cfg.DefaultResource != "" {
			out = []string{p.cfg.DefaultResource}
		}
		if len(out) == 0 && p.cfg.RequireResource {
			return nil, ErrInvalidTarget.WithHint("The assertion has no resource claim and the 'resource' parameter is missing.")
		}
		return out, nil
	}
	bound, err := p.canonicalResources(claimed)
	if err != nil {
		// Extension §7.6.2: a resource claim that is not ours is invalid_grant.
		return nil, fosite.ErrInvalidGrant.WithHint("The assertion was refused: resource is not a resource of this authorization server.")
	}
	out, err := p.narrowAudience(requested, bound)
	if err != nil {
		return nil, fosite.ErrorToRFC6749Error(err)
	}
	return out, nil
}

// scopes returns the access token's scopes: the requested ones (or, with none
// requested, the assertion's) that the assertion grants, the audience allows and the
// client may have. Requested scopes outside that are dropped (the response's scope says
// what was issued); when none remains, invalid_scope.
func (g *assertionGrant) scopes(r fosite.AccessRequester, claimed, audience []string) ([]string, *fosite.RFC6749Error) {
	allowed, limited := g.p.audienceScopes(audience)
	if !limited {
		allowed = lists.Dedupe(append(append([]string{}, g.p.cfg.Scopes...), g.p.cfg.RefreshTokenScopes...))
	}
	available := keep(keep(claimed, allowed), r.GetClient().GetScopes())
	requested := r.GetRequestedScopes()
	if len(requested) == 0 {
		return available, nil
	}
	out := keep(requested, available)
	if len(out) == 0 {
		return nil, fosite.ErrInvalidScope.WithHint("None of the requested scopes is granted by the assertion for this resource and client.")
	}
	return out, nil
}

// canIssueRefreshToken reports whether a refresh token goes with the access token:
// IssueRefreshTokens, a client allowed the refresh_token grant and, with
// Config.RefreshTokenScopes, a grant holding one of them.
func (g *assertionGrant) canIssueRefreshToken(ctx context.Context, r fosite.AccessRequester, scopes []string) bool {
	if !g.opts.IssueRefreshTokens || !r.GetClient().GetGrantTypes().Has("refresh_token") {
		return false
	}
	rts := g.p.fcfg.GetRefreshTokenScopes(ctx)
	return len(rts) == 0 || fosite.Arguments(scopes).HasOneOf(rts...)
}

// PopulateTokenEndpointResponse implements fosite.TokenEndpointHandler: it records the
// grant, then issues the access token and, when HandleTokenEndpointRequest set a refresh
// token expiry, the refresh token, in one transaction.
func (g *assertionGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) (err error) {
	if !g.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	p := g.p
	// The grant (user × client × resources) is recorded before its tokens exist, outside
	// the transaction that issues them, as a device poll's is, so that the grants API
	// (RevokeAllGrants, RevokeClientGrants) lists and revokes them like any other.
	sess := r.GetSession()
	expires := sess.GetExpiresAt(fosite.RefreshToken)
	if expires.IsZero() {
		expires = sess.GetExpiresAt(fosite.AccessToken)
	}
	if err := p.recordApproval(ctx, r.GetID(), r.GetClient().GetID(), sess.GetSubject(), r.GetGrantedScopes(), r.GetGrantedAudience(), expires, false); err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	var refresh, refreshSig string
	if !sess.GetExpiresAt(fosite.RefreshToken).IsZero() {
		if refresh, refreshSig, err = p.strategy.GenerateRefreshToken(ctx, r); err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
	}
	err = p.inWriteTx(ctx, func(ctx context.Context) error {
		h := oauth2.HandleHelper{AccessTokenStrategy: p.strategy, AccessTokenStorage: p.fstore, Config: p.fcfg}
		accessSig, err := h.IssueAccessToken(ctx, p.fcfg.GetAccessTokenLifespan(ctx), r, resp)
		if err != nil || refreshSig == "" {
			return err
		}
		return p.fstore.CreateRefreshTokenSession(ctx, refreshSig, accessSig, r.Sanitize([]string{}))
	})
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if refresh != "" {
		resp.SetExtra("refresh_token", refresh)
	}
	return nil
}
