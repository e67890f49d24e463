package provider

import (
	"context"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// Token is the token endpoint (RFC 6749 §3.2): authorization_code (with PKCE),
// refresh_token (rotating) and, when enabled, client_credentials, the RFC 8628
// device_code grant (device.go) and the RFC 7523 jwt-bearer grant with ID-JAGs
// (identity_assertion.go). Responses carry Cache-Control: no-store; errors are
// RFC 6749 §5.2 JSON, and a storage failure is 503 temporarily_unavailable with
// Retry-After (never invalid_client or invalid_grant).
func (p *Provider) Token(w http.ResponseWriter, r *http.Request) {
	r = watchStorage(r)
	ctx := r.Context()
	if !p.clientPost(w, r, "resource") {
		return
	}
	grantType := r.PostForm.Get("grant_type")
	if grantType == "" {
		p.writeJSONError(w, fosite.ErrInvalidRequest.WithHint("The 'grant_type' parameter is missing."))
		return
	}
	if !p.grantTypeSupported(r, grantType) {
		p.writeJSONError(w, fosite.ErrUnsupportedGrantType.WithHintf("The grant type '%s' is not supported.", grantType))
		return
	}
	if err := checkTokenParams(r, grantType); err != nil {
		p.writeJSONError(w, err)
		return
	}
	if grantType == "authorization_code" && p.cfg.TokenRedirectURIOptional {
		p.fillRedirectURI(ctx, r)
	}
	var exchange *codeExchange
	if grantType == "authorization_code" {
		ctx, exchange = withCodeExchange(ctx)
	}
	attempts := 1
	if grantType == "refresh_token" && p.cfg.RefreshTokenGrace.Period > 0 {
		ctx = withRefreshGrant(ctx)
		// Concurrent uses of one refresh token conflict in storage; each retry sees the
		// winner's write and takes the grace path, or hits the reuse limit.
		attempts = 2*p.cfg.RefreshTokenGrace.MaxReuses + 3
	}
	var (
		ar   fosite.AccessRequester
		resp fosite.AccessResponder
		err  error
	)
	for i := 1; ; i++ {
		ar, err = p.oauth2.NewAccessRequest(ctx, r, NewSession(""))
		if err == nil {
			resp, err = p.oauth2.NewAccessResponse(ctx, ar)
		}
		if err == nil || i >= attempts || !errors.Is(err, fosite.ErrSerializationFailure) {
			break
		}
		if !sleepCtx(ctx, time.Duration(i)*time.Duration(1+mrand.IntN(5))*time.Millisecond) {
			break
		}
	}
	if err != nil {
		// An exchange that failed after fosite's PKCE handler reached its delete burns its
		// code (a wrong code_verifier), unless the storage failed: storage fails the
		// request where it fails, so a failure past that point came after a right
		// verifier, and the code stays for the retry the 503's Retry-After invites.
		if !storageFailed(ctx, err) {
			if derr := p.burnCode(ctx, exchange); derr != nil {
				p.log.WarnContext(ctx, "burning a code after a failed exchange", slog.String("error", derr.Error()))
			}
		}
		err = p.tokenError(r, err)
		p.observeToken(ctx, grantType, ar, err)
		p.writeJSONError(w, err)
		return
	}
	p.observeToken(ctx, grantType, ar, nil)
	if !p.issuesAtOnce(grantType) {
		p.recordClientUse(ctx, ar.GetClient()) // else recorded with the tokens
	}
	if grantType != "authorization_code" && grantType != "refresh_token" {
		// The code and refresh handlers record it in their own transaction.
		p.recordGrantUse(ctx, ar, resp)
	}
	omitEmptyScope(ar, resp)
	p.oauth2.WriteAccessResponse(ctx, w, ar, resp)
}

// omitEmptyScope drops a token response's scope member when no scope was requested and
// none granted: fosite always writes it, "" is no valid scope (RFC 6749 §3.3: one or more
// scope tokens), and §5.1 lets the member out when it is what was requested. When scopes
// were requested and none granted the member stays, "", which says so.
func omitEmptyScope(ar fosite.AccessRequester, resp fosite.AccessResponder) {
	if r, ok := resp.(*fosite.AccessResponse); ok && r.Extra["scope"] == "" && len(ar.GetRequestedScopes()) == 0 {
		delete(r.Extra, "scope")
	}
}

// sleepCtx waits for d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fillRedirectURI supplies the redirect_uri an authorization code token request left
// out (Config.TokenRedirectURIOptional): when the code was issued for the client's only
// registered redirect URI, that URI is the only value fosite's RFC 6749 §4.1.3 check
// would accept. In every other case the request is left as it is and fosite refuses it
// with invalid_grant. The code is only read here; fosite validates and consumes it.
func (p *Provider) fillRedirectURI(ctx context.Context, r *http.Request) {
	if _, sent := r.PostForm["redirect_uri"]; sent {
		return
	}
	code := r.PostForm.Get("code")
	stored, err := p.store.GetAuthorizeCodeSession(ctx, p.strategy.AuthorizeCodeSignature(ctx, code), NewSession(""))
	if err != nil || stored == nil || stored.GetClient() == nil {
		return
	}
	uri := stored.GetRequestForm().Get("redirect_uri")
	registered := stored.GetClient().GetRedirectURIs()
	if uri == "" || len(registered) != 1 || registered[0] != uri {
		return
	}
	r.PostForm.Set("redirect_uri", uri)
	if r.Form != nil {
		r.Form.Set("redirect_uri", uri)
	}
}

// ClientUsageRecorder is implemented by storages that record when a client last
// obtained a token (Client.LastUsedAt; storage/gorm does). The token endpoint calls it
// after issuing tokens, at most about once a minute per client, so that unused clients
// can be found and removed.
type ClientUsageRecorder interface {
	TouchClient(ctx context.Context, clientID string, at time.Time) error
}

// recordClientUse records that c obtained a token (clientUse); a failure is logged.
func (p *Provider) recordClientUse(ctx context.Context, c fosite.Client) {
	use := p.clientUse(c)
	if use == nil {
		return
	}
	if err := p.store.(ClientUsageRecorder).TouchClient(ctx, use.ClientID, use.At); err != nil {
		p.errorf(ctx, "recording client use", err)
	}
}

// clientUse is c's use by a token response, nil when the storage does not record it or
// c's last recorded use (as read with c) is less than a minute old.
func (p *Provider) clientUse(c fosite.Client) *ClientUse {
	if _, ok := p.store.(ClientUsageRecorder); !ok || c == nil {
		return nil
	}
	if pc, ok := c.(*Client); ok && time.Since(pc.LastUsedAt) < time.Minute {
		return nil
	}
	return &ClientUse{ClientID: c.GetID(), At: time.Now()}
}

// grantTypeSupported reports whether some token endpoint handler handles grantType.
func (p *Provider) grantTypeSupported(r *http.Request, grantType string) bool {
	probe := fosite.NewAccessRequest(NewSession(""))
	probe.GrantTypes = fosite.Arguments{grantType}
	for _, h := range p.fcfg.GetTokenEndpointHandlers(r.Context()) {
		if _, ok := h.(*resourceHandler); ok {
			continue
		}
		if h.CanHandleTokenEndpointRequest(r.Context(), probe) {
			return true
		}
	}
	return false
}

// checkTokenParams checks the parameters the built-in grants require, so that missing
// ones get a precise invalid_request instead of fosite's generic invalid_grant.
func checkTokenParams(r *http.Request, grantType string) error {
	f := r.PostForm
	switch grantType {
	case "authorization_code":
		if f.Get("code") == "" {
			return fosite.ErrInvalidRequest.WithHint("The 'code' parameter is missing.")
		}
		if f.Get("code_verifier") == "" {
			return fosite.ErrInvalidRequest.WithHint("The 'code_verifier' parameter is missing (PKCE).")
		}
	case "refresh_token":
		if f.Get("refresh_token") == "" {
			return fosite.ErrInvalidRequest.WithHint("The 'refresh_token' parameter is missing.")
		}
	case GrantTypeDeviceCode:
		if f.Get("device_code") == "" {
			return fosite.ErrInvalidRequest.WithHint("The 'device_code' parameter is missing.")
		}
	case GrantTypeJWTBearer:
		if f.Get("assertion") == "" {
			return fosite.ErrInvalidRequest.WithHint("The 'assertion' parameter is missing.")
		}
	}
	return nil
}

// tokenError maps storage outcomes fosite reports as server_error to the RFC error a
// client can act on: a code or refresh token that lost a race for single use, or is no
// longer there, is invalid_grant, never a 500; a storage failure (ErrStorageUnavailable,
// whatever fosite made of it) is 503 temporarily_unavailable.
func (p *Provider) tokenError(r *http.Request, err error) error {
	if storageFailed(r.Context(), err) {
		return p.storageDown(r.Context(), "token endpoint", err)
	}
	err = asClientResolutionError(err)
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField && lostGrant(err) {
		// fosite's refresh handler answers invalid_request ("please retry") when the
		// refresh token was rotated or revoked by a concurrent request; the token is spent,
		// so a retry cannot succeed: RFC 6749 §5.2 calls that invalid_grant.
		return fosite.ErrInvalidGrant.WithHint("The refresh token was already used by a concurrent request.")
	}
	if rfc.CodeField < 500 && rfc.ErrorField != "error" {
		return err
	}
	if errors.Is(err, ErrRefreshTokenReuseLimit) {
		return fosite.ErrInvalidGrant.WithHint("The refresh token was already used.")
	}
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || lostGrant(err) {
		return fosite.ErrInvalidGrant.WithHint("The authorization grant was already used or is no longer valid.")
	}
	p.errorf(r.Context(), "token endpoint", errors.New(rfc.ErrorField+": "+rfc.DebugField))
	return err
}

// lostGrant reports whether err says the grant presented is gone: unknown, inactive, or
// consumed by a concurrent request (storage's conflict error).
func lostGrant(err error) bool {
	return errors.Is(err, fosite.ErrInactiveToken) || errors.Is(err, fosite.ErrNotFound) ||
		errors.Is(err, fosite.ErrSerializationFailure)
}

// Revocation is the token revocation endpoint (RFC 7009). Clients authenticate as at
// the token endpoint (public clients by client_id). Access and refresh tokens are both
// searched whatever token_type_hint says; only the owning client can revoke (another
// client gets 200 and nothing happens); revoking either token of a grant revokes the
// grant's refresh and access tokens. Revoking a refresh token that was already rotated
// revokes its grant too, so that a revocation racing a refresh leaves no token working.
// A storage failure is 503 temporarily_unavailable with Retry-After.
func (p *Provider) Revocation(w http.ResponseWriter, r *http.Request) {
	r = watchStorage(r)
	ctx := r.Context()
	if !p.clientPost(w, r) {
		return
	}
	if r.PostForm.Get("token") == "" {
		p.writeJSONError(w, fosite.ErrInvalidRequest.WithHint("The 'token' parameter is missing."))
		return
	}
	err := p.oauth2.NewRevocationRequest(withRevocation(ctx), r)
	switch {
	case err != nil && storageFailed(ctx, err):
		p.writeJSONError(w, p.storageDown(ctx, "revocation", err))
	case err == nil,
		errors.Is(err, fosite.ErrUnauthorizedClient): // RFC 7009 §2.1: not the owner, nothing happens
		p.observeRevocation(r)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	default: // fosite's temporarily_unavailable (503) gets Retry-After from writeJSONError
		p.writeJSONError(w, err)
	}
}

// Introspection is the token introspection endpoint (RFC 7662). The caller must
// authenticate as a confidential client (client_secret_basic, client_secret_post or
// private_key_jwt) that Config.IntrospectionAllowed lets introspect (by default only clients the operator
// created; others get 403 unauthorized_client). Unknown, expired and revoked tokens are
// {"active":false}, and so is a refresh token issued to another client than the caller;
// active tokens report client_id, scope, sub, aud, exp, iat, iss, token_type ("Bearer"
// for access tokens) and token_use ("access_token" or "refresh_token"). A storage
// failure is 503 temporarily_unavailable with Retry-After.
func (p *Provider) Introspection(w http.ResponseWriter, r *http.Request) {
	r = watchStorage(r)
	ctx := r.Context()
	if !p.clientPost(w, r) {
		return
	}
	client, err := p.oauth2.(*fosite.Fosite).AuthenticateClient(ctx, r, r.PostForm)
	if err != nil && storageFailed(ctx, err) {
		p.writeJSONError(w, p.storageDown(ctx, "introspection", err))
		return
	}
	if err != nil {
		p.writeJSONError(w, fosite.ErrInvalidClient.WithHint("Client authentication failed."))
		return
	}
	if client.IsPublic() {
		p.writeJSONError(w, fosite.ErrInvalidClient.WithHint("Introspection requires a confidential client."))
		return
	}
	if !p.introspectionAllowed(ctx, client) {
		p.writeJSONError(w, &fosite.RFC6749Error{ErrorField: fosite.ErrUnauthorizedClient.ErrorField, CodeField: http.StatusForbidden,
			DescriptionField: "The client is not allowed to use the introspection endpoint."})
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.writeJSONError(w, fosite.ErrInvalidRequest.WithHint("The 'token' parameter is missing."))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	hint := fosite.TokenUse(r.PostForm.Get("token_type_hint"))
	if hint != fosite.RefreshToken {
		hint = fosite.AccessToken
	}
	use, ar, err := p.oauth2.IntrospectToken(ctx, token, hint, NewSession(""))
	if err != nil && storageFailed(ctx, err) {
		p.writeJSONError(w, p.storageDown(ctx, "introspection", err))
		return
	}
	if err != nil {
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField >= 500 && !isInactive(err) {
			p.errorf(ctx, "introspection", errors.New(rfc.ErrorField+": "+rfc.DebugField))
			p.writeJSONError(w, fosite.ErrTemporarilyUnavailable)
			return
		}
		writeJSON(w, IntrospectionResponse{Active: false})
		return
	}
	if use == fosite.RefreshToken && ar.GetClient().GetID() != client.GetID() {
		// A refresh token is its client's credential: nobody else needs to learn about it.
		writeJSON(w, IntrospectionResponse{Active: false})
		return
	}
	writeJSON(w, p.introspectionResponse(use, ar))
}

// introspectionAllowed applies Config.IntrospectionAllowed to an authenticated
// confidential client; by default only static clients (created by the operator) may
// introspect.
func (p *Provider) introspectionAllowed(ctx context.Context, c fosite.Client) bool {
	pc, ok := c.(*Client)
	if !ok || pc == nil {
		return false
	}
	if p.cfg.IntrospectionAllowed != nil {
		return p.cfg.IntrospectionAllowed(ctx, pc)
	}
	return pc.Source == ClientSourceStatic
}

func isInactive(err error) bool {
	return errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInactiveToken) ||
		errors.Is(err, fosite.ErrTokenExpired) || errors.Is(err, fosite.ErrTokenSignatureMismatch) ||
		errors.Is(err, fosite.ErrInvalidTokenFormat) || errors.Is(err, fosite.ErrRequestUnauthorized)
}

// IntrospectionResponse is the RFC 7662 §2.2 response.
type IntrospectionResponse struct {
	// Active says whether the token is currently valid; every other field is omitted when not.
	Active bool `json:"active"`
	// Scope is the space-separated granted scopes.
	Scope string `json:"scope,omitempty"`
	// ClientID is the client the token was issued to.
	ClientID string `json:"client_id,omitempty"`
	// Subject is the resource owner; empty for client credentials.
	Subject string `json:"sub,omitempty"`
	// Audience is the RFC 8707 resources the token is bound to.
	Audience []string `json:"aud,omitempty"`
	// Issuer is this server's issuer identifier.
	Issuer string `json:"iss,omitempty"`
	// ExpiresAt is the token's expiry (Unix seconds).
	ExpiresAt int64 `json:"exp,omitempty"`
	// IssuedAt is when the token was issued (Unix seconds).
	IssuedAt int64 `json:"iat,omitempty"`
	// TokenType is "Bearer" for access tokens.
	TokenType string `json:"token_type,omitempty"`
	// TokenUse is "access_token" or "refresh_token" (as in Ory Hydra).
	TokenUse string `json:"token_use,omitempty"`
}

func (p *Provider) introspectionResponse(use fosite.TokenUse, ar fosite.AccessRequester) IntrospectionResponse {
	res := IntrospectionResponse{
		Active:   true,
		Scope:    strings.Join(ar.GetGrantedScopes(), " "),
		ClientID: ar.GetClient().GetID(),
		Audience: append([]string(nil), ar.GetGrantedAudience()...),
		Issuer:   p.cfg.Issuer,
		TokenUse: string(use),
	}
	if s := ar.GetSession(); s != nil {
		res.Subject = s.GetSubject()
		exp := s.GetExpiresAt(fosite.AccessToken)
		if use == fosite.RefreshToken {
			exp = s.GetExpiresAt(fosite.RefreshToken)
		}
		if !exp.IsZero() {
			res.ExpiresAt = exp.Unix()
		}
	}
	if t := ar.GetRequestedAt(); !t.IsZero() {
		res.IssuedAt = t.Unix()
	}
	if use == fosite.AccessToken {
		res.TokenType = "Bearer"
	}
	return res
}

// clientPost does what the token, revocation and introspection endpoints share before
// their own checks: CORS (answering preflights), POST only, a bounded form body, no
// repeated parameter (but the repeatable ones), a well-formed client authentication
// header. It reports whether the request may go on; when not,
// the response has been written.
func (p *Provider) clientPost(w http.ResponseWriter, r *http.Request, repeatable ...string) bool {
	if cors(w, r, "POST, OPTIONS") {
		return false
	}
	if r.Method != http.MethodPost {
		p.methodNotAllowed(w, "POST, OPTIONS")
		return false
	}
	if err := parsePostForm(w, r); err != nil {
		p.writeJSONError(w, err)
		return false
	}
	if k := duplicateParam(r.PostForm, repeatable...); k != "" {
		p.writeJSONError(w, fosite.ErrInvalidRequest.WithHintf("The '%s' parameter must not be repeated.", k))
		return false
	}
	if err := checkClientAuthHeader(r); err != nil {
		p.writeJSONError(w, err)
		return false
	}
	return true
}
