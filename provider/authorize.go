package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/lists"
	"github.com/fosite-mcp/fosite-mcp/internal/randid"
	"github.com/ory/fosite"
)

// AuthorizationRequest is a validated authorization request as a login and consent
// page (or Config.AuthorizeHook / Config.AutoApprove) sees it. Every string in it may
// come from the client: escape it when rendering.
type AuthorizationRequest struct {
	// ID identifies the pending request (the LoginRequestParam value); empty in
	// AuthorizeHook and AutoApprove, which run before the request is stored.
	ID string
	// RequestingClient is who asks: the client's ID, name, home page and registration.
	RequestingClient
	// RedirectURI is where the response will be sent.
	RedirectURI string
	// RedirectHost is DisplayHost(RedirectURI): the host in ASCII (punycode, so that
	// https://аррӏе.com/cb shows as xn--80ak6aa92e.com), or the scheme for a private-use
	// URI ("com.example.app:", "cursor://anysphere.cursor-mcp"): show it to the user.
	RedirectHost string
	// Scopes are the requested scopes. AuthorizeHook may change them.
	Scopes []string
	// Resources are the RFC 8707 resources the grant will be bound to (canonical form).
	// AuthorizeHook may change them; they must stay within Config.Resources.
	Resources []string
	// LocalhostOnly is true when every redirect URI registered for the client is on a
	// loopback host: any program on the user's machine could be posing as this client,
	// so a consent page should warn.
	LocalhostOnly bool
	// ExpiresAt is when the pending request expires; zero in AuthorizeHook/AutoApprove.
	ExpiresAt time.Time
	// Prompt holds the request's space-separated prompt values (OpenID Connect Core
	// §3.1.2.1); "consent" makes a remembered consent ask again.
	Prompt []string
	// AlreadyApproved is true when the user's remembered consent (Config.RememberConsent)
	// covers the whole request, so that a consent page need not ask (ApproveRemembered
	// approves it). Set by RememberedConsent, which needs the user; false before.
	AlreadyApproved bool
	// RememberedScopes are the requested scopes the user's remembered consent covers (to
	// pre-select them when the page asks about the others). Set by RememberedConsent.
	RememberedScopes []string
}

// Limits of an authorization request. A request beyond them is refused before anything
// is stored: with open registration anyone may send authorization requests, and each
// valid one is kept (encrypted) until the user consents or it expires.
const (
	// MaxAuthorizationRequestBytes caps the query string of an authorization request and
	// the body of a POSTed one (8 KiB, the request-line limit common HTTP servers and
	// proxies apply). A longer query is answered 414 URI Too Long (RFC 9110 §15.5.15), a
	// longer body 400 as at the token endpoint, each with an invalid_request error page.
	MaxAuthorizationRequestBytes = 8 << 10
	// MaxResourceValues caps the RFC 8707 `resource` parameters of one authorization
	// request (invalid_request beyond it).
	MaxResourceValues = 16
	// MaxScopeValues caps the scope tokens of one authorization request (invalid_scope
	// beyond it).
	MaxScopeValues = 64
)

// ErrAuthorizationRequestNotFound is returned by AuthorizationRequest, Approve and Deny
// for an unknown, expired or already used authorization request ID.
var ErrAuthorizationRequestNotFound = errors.New("provider: authorization request not found, expired or already used")

// ErrScopeNotRequested is returned by Approve when granting a scope the client did not
// request.
var ErrScopeNotRequested = errors.New("provider: granted scope was not requested")

// Authorize is the authorization endpoint (RFC 6749 §3.1, GET and POST). It validates
// the request, then approves it through Config.AutoApprove or stores it and sends the
// browser to the login page. Errors go to the client's redirect URI with `iss`
// (RFC 9207) once the client and redirect URI are known to be valid; before that, an
// error page is shown (never a redirect to an unvalidated URI). A storage failure is a
// 503 page with Retry-After (the browser may simply retry), never a client error.
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request) {
	r = watchStorage(r)
	ctx := r.Context()
	if len(r.URL.RawQuery) > MaxAuthorizationRequestBytes {
		// Never parsed, never stored: no authorization request needs this much.
		p.errorPage(w, r, http.StatusRequestURITooLong, fosite.ErrInvalidRequest.WithHintf("The authorization request is longer than %d bytes.", MaxAuthorizationRequestBytes))
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		if err := checkFormContentType(r); err != nil {
			p.errorPage(w, r, http.StatusBadRequest, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxAuthorizationRequestBytes)
	default:
		w.Header().Set("Allow", "GET, POST")
		p.errorPage(w, r, http.StatusMethodNotAllowed, errMethodNotAllowed.WithHint("Use GET or POST."))
		return
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			p.errorPage(w, r, http.StatusBadRequest, fosite.ErrInvalidRequest.WithHintf("The authorization request is longer than %d bytes.", MaxAuthorizationRequestBytes))
			return
		}
		p.errorPage(w, r, http.StatusBadRequest, fosite.ErrInvalidRequest.WithHint("The request is not a valid form."))
		return
	}
	ar, view, err := p.validateAuthorize(ctx, r, true)
	if err != nil {
		p.authorizeFailure(w, r, ar, err)
		return
	}
	if p.cfg.AutoApprove != nil {
		if subject, ok := p.cfg.AutoApprove(ctx, view); ok && subject != "" {
			if err := ValidateSubject(subject); err != nil {
				p.errorf(ctx, "AutoApprove's subject", err)
				p.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
				return
			}
			u, err := p.issueCode(ctx, ar, subject, view.Scopes, false)
			if err != nil {
				p.authorizeFailure(w, r, ar, err)
				return
			}
			p.observeConsent(ctx, ar, true, subject, view.Scopes, "auto_approve")
			redirect(w, u)
			return
		}
	}
	id, err := randid.New(randid.Secret)
	if err != nil {
		p.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	now := time.Now().UTC()
	pending := &PendingAuthorization{
		ClientID:  ar.GetClient().GetID(),
		Form:      pendingForm(ar.GetRequestForm()),
		CreatedAt: now,
		ExpiresAt: now.Add(p.cfg.PendingAuthorizationLifespan),
	}
	if pending.BrowserBinding, err = p.bindBrowser(w, id); err != nil {
		p.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	if err := p.store.CreatePendingAuthorization(ctx, id, pending); err != nil {
		p.errorf(ctx, "storing pending authorization", err)
		p.authorizeFailure(w, r, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	redirect(w, p.loginURL(id))
}

// loginURL returns the login page URL for the pending request id.
func (p *Provider) loginURL(id string) string {
	target := p.cfg.LoginURL
	if target == "" {
		target = p.endpoints.login
	}
	u, err := url.Parse(target)
	if err != nil { // validated in New
		u = &url.URL{Path: target}
	}
	q := u.Query()
	q.Set(LoginRequestParam, id)
	u.RawQuery = q.Encode()
	return u.String()
}

// validateAuthorize validates an authorization request with fosite and with the rules
// fosite lacks (PKCE at the authorization endpoint, RFC 8707 resources, duplicate
// parameters, redirect URI schemes), runs the hook when runHook is set, and writes
// the effective scope and resource values back into the request's form. On error, ar
// is non-nil when the error may be redirected to the client (see redirectable).
func (p *Provider) validateAuthorize(ctx context.Context, r *http.Request, runHook bool) (*fosite.AuthorizeRequest, *AuthorizationRequest, error) {
	form := r.Form
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(form[k]) > 1 {
			return nil, nil, fosite.ErrInvalidRequest.WithHintf("The '%s' parameter must not be repeated.", k)
		}
	}
	if form.Get("client_id") == "" {
		return nil, nil, fosite.ErrInvalidRequest.WithHint("The 'client_id' parameter is missing.")
	}
	if _, ok := form["request_uri"]; ok {
		// Neither request objects by reference nor pushed authorization requests (RFC 9126)
		// are supported; fosite would otherwise treat a PAR-prefixed value as a server error.
		return nil, nil, fosite.ErrRequestURINotSupported
	}
	// RFC 8707 `resource` replaces fosite's `audience`; scopes are validated below, after
	// the hook had a chance to adjust them.
	delete(form, "audience")
	if form.Get("response_mode") == string(fosite.ResponseModeQuery) && len(form["response_mode"]) == 1 {
		delete(form, "response_mode")
	}
	rawScope := form["scope"]
	delete(form, "scope")

	// fosite insists on a state of at least MinParameterEntropy (≥ 1) characters; OAuth 2.1
	// with PKCE makes state optional, so stand in for a missing one during validation.
	state, hasState := form["state"]
	if !hasState || form.Get("state") == "" {
		form.Set("state", "-")
	}
	req, err := p.oauth2.NewAuthorizeRequest(withLoopbackRedirect(ctx, form.Get("redirect_uri")), r)
	if hasState {
		form["state"] = state
	} else {
		delete(form, "state")
	}
	err = asClientResolutionError(err)
	ar, _ := req.(*fosite.AuthorizeRequest)
	if ar != nil {
		ar.State = form.Get("state")
	}
	if ar == nil || ar.GetRedirectURI() == nil || p.cfg.RedirectURIRules.Validate(ar.GetRedirectURI().String()) != nil {
		// The redirect URI is not (yet) trustworthy: no redirect.
		if err == nil {
			err = fosite.ErrInvalidRequest.WithHint("The redirect URI is not allowed.")
		}
		return nil, nil, err
	}
	if err != nil {
		return ar, nil, err
	}
	if err := p.checkAuthorizeParams(ar, form, rawScope); err != nil {
		return ar, nil, err
	}
	resources, err := p.canonicalResources(form["resource"])
	if err != nil {
		return ar, nil, err
	}
	if len(resources) == 0 && p.cfg.DefaultResource != "" {
		resources = []string{p.cfg.DefaultResource}
	}
	var scopes []string
	if len(rawScope) == 1 {
		scopes = fosite.RemoveEmpty(strings.Split(rawScope[0], " "))
	}
	view := newView(ar.GetClient(), ar.GetRedirectURI().String(), scopes, resources)
	if err := p.settleScopesAndResources(ctx, ar.GetClient(), view, runHook); err != nil {
		return ar, nil, err
	}
	if len(view.Scopes) > 0 {
		form["scope"] = []string{strings.Join(view.Scopes, " ")}
	}
	if len(view.Resources) > 0 {
		form["resource"] = append([]string(nil), view.Resources...)
	} else {
		delete(form, "resource")
	}
	ar.SetRequestedScopes(view.Scopes)
	ar.SetRequestedAudience(view.Resources)
	return ar, view, nil
}

// checkAuthorizeParams applies the rules fosite lacks to a request whose redirect URI is
// trusted (errors may be redirected): state length, scope and resource counts and
// repeats, no request objects, response_type=code only, PKCE S256.
func (p *Provider) checkAuthorizeParams(ar *fosite.AuthorizeRequest, form url.Values, rawScope []string) error {
	if n := p.cfg.MinStateLength; n > 0 && len(ar.State) < n {
		return fosite.ErrInvalidRequest.WithHintf("The 'state' parameter is required and must be at least %d characters long.", n)
	}
	if len(rawScope) > 1 {
		return fosite.ErrInvalidRequest.WithHint("The 'scope' parameter must not be repeated.")
	}
	if len(rawScope) == 1 && len(fosite.RemoveEmpty(strings.Split(rawScope[0], " "))) > MaxScopeValues {
		return fosite.ErrInvalidScope.WithHintf("At most %d scopes may be requested.", MaxScopeValues)
	}
	if len(form["resource"]) > MaxResourceValues {
		return fosite.ErrInvalidRequest.WithHintf("At most %d 'resource' parameters may be sent.", MaxResourceValues)
	}
	if k := duplicateParam(form, "resource"); k != "" {
		return fosite.ErrInvalidRequest.WithHintf("The '%s' parameter must not be repeated.", k)
	}
	if form.Get("request") != "" {
		return fosite.ErrRequestNotSupported
	}
	if !ar.GetResponseTypes().ExactOne("code") {
		return fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	}
	return checkPKCEChallenge(form.Get("code_challenge"), form.Get("code_challenge_method"))
}

// settleScopesAndResources runs Config.AuthorizeHook on view when runHook is set, then
// checks its scopes (well-formed, allowed to client) and resources (configured, present
// when Config.RequireResource): the rules the authorization and the device
// authorization endpoints share.
func (p *Provider) settleScopesAndResources(ctx context.Context, client fosite.Client, view *AuthorizationRequest, runHook bool) error {
	if runHook && p.cfg.AuthorizeHook != nil {
		if err := p.cfg.AuthorizeHook(ctx, view); err != nil {
			var rfc *fosite.RFC6749Error
			if errors.As(err, &rfc) {
				return err
			}
			p.errorf(ctx, "authorize hook", err)
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	view.Scopes = lists.Dedupe(view.Scopes)
	for _, s := range view.Scopes {
		if !ValidScopeToken(s) {
			return fosite.ErrInvalidScope.WithHint("A scope is malformed.")
		}
		if !fosite.ExactScopeStrategy(client.GetScopes(), s) {
			return fosite.ErrInvalidScope.WithHintf("The client is not allowed to request scope '%s'.", s)
		}
	}
	var err error
	if view.Resources, err = p.canonicalResources(view.Resources); err != nil {
		return err
	}
	if len(view.Resources) == 0 && p.cfg.RequireResource {
		return ErrInvalidTarget.WithHint("The 'resource' parameter is required.")
	}
	return nil
}

// checkPKCEChallenge enforces RFC 7636 with S256 only (OAuth 2.1): a challenge is
// required, the method must be S256 (a missing method means plain, refused), and the
// challenge must be a base64url SHA-256 digest (43 characters).
func checkPKCEChallenge(challenge, method string) error {
	if challenge == "" {
		return fosite.ErrInvalidRequest.WithHint("The 'code_challenge' parameter is required (PKCE).")
	}
	if method != "S256" {
		return fosite.ErrInvalidRequest.WithHint("The 'code_challenge_method' must be S256; plain is not supported.")
	}
	if len(challenge) != 43 {
		return fosite.ErrInvalidRequest.WithHint("The 'code_challenge' must be the 43-character base64url SHA-256 digest of the verifier.")
	}
	for i := 0; i < len(challenge); i++ {
		c := challenge[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fosite.ErrInvalidRequest.WithHint("The 'code_challenge' must be base64url without padding.")
		}
	}
	return nil
}

// newView describes an authorization request for hooks and consent pages.
func newView(client fosite.Client, redirectURI string, scopes, resources []string) *AuthorizationRequest {
	v := &AuthorizationRequest{
		RequestingClient: RequestingClient{ClientID: client.GetID(), ClientIDHost: clientIDHost(client.GetID())},
		RedirectURI:      redirectURI,
		Scopes:           append([]string{}, scopes...),
		Resources:        append([]string{}, resources...),
	}
	v.RedirectHost = DisplayHost(redirectURI)
	if pc, ok := client.(*Client); ok {
		cp := *pc
		cp.SecretHash = nil
		cp.RegistrationAccessTokenHash = nil
		v.Client = &cp
		v.ClientName = pc.Name
		v.ClientURI = pc.URI
		if pc.URI != "" {
			v.ClientURIHost = DisplayHost(pc.URI)
		}
		v.LocalhostOnly = len(pc.RedirectURIs) > 0
		for _, u := range pc.RedirectURIs {
			if !isLoopbackRedirect(u) {
				v.LocalhostOnly = false
			}
		}
	}
	return v
}

// issueCode approves ar for subject with the granted scopes and the requested
// resources as audience, issues the code, records the grant (remembering the consent
// when remember is set and Config.RememberConsent is on) and returns the success
// redirect URL. The code and the grant are written at once: in one IssueCode call with a
// CodeIssueStorage, else in one write transaction (issueCodeWithGrant).
func (p *Provider) issueCode(ctx context.Context, ar *fosite.AuthorizeRequest, subject string, granted []string, remember bool) (string, error) {
	for _, s := range granted {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	// The grant's request ID (its codes', tokens' and grant request's key) sorts by
	// time, where fosite's is a random UUID: a login's rows then go next to those of the
	// logins just before it in the indexes by request ID.
	id, err := randid.Ordered(randid.Unique)
	if err != nil {
		return "", err
	}
	ar.SetID(id)
	resp, err := p.issueCodeWithGrant(ctx, ar, subject, remember)
	if err != nil {
		return "", err
	}
	params := url.Values{}
	for k, v := range resp.GetParameters() {
		params[k] = v
	}
	if params.Get("state") == "" {
		params.Del("state")
	}
	params.Set("iss", p.cfg.Issuer)
	return withParams(ar.GetRedirectURI(), params), nil
}

// issueCodeWithGrant issues ar's code for subject and records its grant, both or neither: a code
// whose grant is not recorded could not be revoked through the grants API, so it is never
// stored nor handed out. With a CodeIssueStorage fosite's writes are collected (collector)
// and written with the grant in one IssueCode call; otherwise they run in one write
// transaction (inWriteTx).
func (p *Provider) issueCodeWithGrant(ctx context.Context, ar *fosite.AuthorizeRequest, subject string, remember bool) (fosite.AuthorizeResponder, error) {
	is, ok := p.store.(CodeIssueStorage)
	if !ok {
		var resp fosite.AuthorizeResponder
		err := p.inWriteTx(ctx, func(ctx context.Context) error {
			var err error
			if resp, err = p.oauth2.NewAuthorizeResponse(ctx, ar, NewSession(subject)); err != nil {
				return err
			}
			if err := p.recordGrant(ctx, ar, subject, remember); err != nil {
				return fosite.ErrServerError.WithWrap(err)
			}
			return nil
		})
		return resp, err
	}
	c := &collector{code: &CodeIssue{}}
	resp, err := p.oauth2.NewAuthorizeResponse(collect(ctx, c), ar, NewSession(subject))
	c.collecting = false
	if err != nil {
		return nil, err
	}
	iss := *c.code
	if iss.Signature == "" {
		return nil, fosite.ErrServerError.WithDebug("the authorize handlers issued no code")
	}
	if iss.Grant, err = p.grantRecord(ctx, ar, subject, remember); err != nil {
		return nil, fosite.ErrServerError.WithWrap(err)
	}
	if err := noteStorage(ctx, is.IssueCode(ctx, iss)); err != nil {
		// As fosite's code handler answers a failed write.
		return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	return resp, nil
}

// errorRedirect returns the redirect URL carrying err (RFC 6749 §4.1.2.1) with state
// and iss (RFC 9207).
func (p *Provider) errorRedirect(ar *fosite.AuthorizeRequest, err error) string {
	rfc := fosite.ErrorToRFC6749Error(err)
	params := url.Values{}
	params.Set("error", rfc.ErrorField)
	if d := rfc.GetDescription(); d != "" {
		params.Set("error_description", ErrorDescription(d))
	}
	if st := ar.GetState(); st != "" {
		params.Set("state", st)
	}
	params.Set("iss", p.cfg.Issuer)
	return withParams(ar.GetRedirectURI(), params)
}

// redirectable reports whether errors about ar may be sent to its redirect URI.
func (p *Provider) redirectable(ar *fosite.AuthorizeRequest) bool {
	return ar != nil && ar.GetClient() != nil && ar.GetRedirectURI() != nil &&
		p.cfg.RedirectURIRules.Validate(ar.GetRedirectURI().String()) == nil
}

// authorizeFailure answers a failed authorization request: an error page when the
// redirect URI is not (yet) validated; otherwise the error goes to the client's redirect
// URI (RFC 6749 §4.1.2.1, with iss) — automatically only when the server trusts that URI
// (see trustedErrorRedirect), else as a link on the error page for the user to follow
// (RFC 9700 §4.11.2: with open registration anyone can register a redirect URI, and an
// automatic error redirect would make this server an open redirector to it).
func (p *Provider) authorizeFailure(w http.ResponseWriter, r *http.Request, ar *fosite.AuthorizeRequest, err error) {
	if storageFailed(r.Context(), err) {
		p.errorPage(w, r, 0, p.storageDown(r.Context(), "authorization endpoint", err))
		return
	}
	if !p.redirectable(ar) {
		p.errorPage(w, r, 0, err)
		return
	}
	u := p.errorRedirect(ar, err)
	noteError(w, fosite.ErrorToRFC6749Error(err).ErrorField)
	if trustedErrorRedirect(ar) {
		redirect(w, u)
		return
	}
	p.errorPageWithLink(w, r, err, u)
}

// trustedErrorRedirect reports whether an error may be redirected to ar's (validated)
// redirect URI without the user's involvement: for clients the operator created
// (static), and for redirect URIs that cannot reach a third-party web site or a
// general-purpose handler — loopback http (RFC 8252 §7.3) and private-use schemes named
// after a reversed domain (RFC 8252 §7.1), which is where native MCP clients listen.
// RedirectURIRules.DotlessSchemes (cursor:, vscode:) are handlers of whole applications
// that any registrant can aim at any of their deep links: errors for them go through the
// error page's link, that is the user's click.
func trustedErrorRedirect(ar *fosite.AuthorizeRequest) bool {
	if c, ok := ar.GetClient().(*Client); ok && c.Source == ClientSourceStatic {
		return true
	}
	u := ar.GetRedirectURI()
	return isLoopbackRedirect(u.String()) || (u.Scheme != "http" && u.Scheme != "https" && reverseDomainScheme(u.Scheme))
}

// redirect answers with 303 See Other to u.
func redirect(w http.ResponseWriter, u string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", u)
	w.WriteHeader(http.StatusSeeOther)
}

// AuthorizationRequest returns the pending authorization request id for display on a
// consent page, without consuming it. r is the browser's request to the page: it must
// carry the cookie the authorization endpoint set in the browser that sent the
// authorization request, else the error is ErrOtherBrowser (see Config.LoginURL).
func (p *Provider) AuthorizationRequest(r *http.Request, id string) (*AuthorizationRequest, error) {
	pending, _, err := p.boundPending(r, id)
	if err != nil {
		return nil, err
	}
	return p.requestView(r.Context(), id, pending)
}

// requestView describes the pending request id for a consent page.
func (p *Provider) requestView(ctx context.Context, id string, pending *PendingAuthorization) (*AuthorizationRequest, error) {
	client, err := p.store.GetClient(ctx, pending.ClientID)
	if err != nil {
		return nil, pendingError(err)
	}
	redirectURI := pending.Form.Get("redirect_uri")
	if redirectURI == "" && len(client.GetRedirectURIs()) == 1 {
		redirectURI = client.GetRedirectURIs()[0]
	}
	var scopes []string
	if s := pending.Form.Get("scope"); s != "" {
		scopes = fosite.RemoveEmpty(strings.Split(s, " "))
	}
	v := newView(client, redirectURI, scopes, pending.Form["resource"])
	v.ID = id
	v.Prompt = fosite.RemoveEmpty(strings.Split(pending.Form.Get("prompt"), " "))
	v.ExpiresAt = pending.ExpiresAt
	return v, nil
}

// Approve approves the pending authorization request id on behalf of subject, granting
// grantedScopes (a subset of the requested scopes; nil grants none) and the requested
// resources. It consumes the request (single use), validates it again as the client
// sent it, issues the authorization code and returns the URL to send the browser to:
// the client's redirect URI with code, state and iss.
//
// When the request can no longer be approved but the client can be told (for example
// its registration changed), Approve returns both an error and a non-empty URL carrying
// the RFC 6749 error for the client: send the browser there. ErrAuthorizationRequestNotFound
// means there is nothing to redirect to, and ErrOtherBrowser that r (the browser's POST
// to the consent page) does not come from the browser that sent the authorization
// request: show an error page, never redirect. An error wrapping ErrStorageUnavailable
// means the storage failed: without a URL, answer 503 (the user may retry); with one
// (the code could not be stored after the request was spent), the URL carries
// temporarily_unavailable.
//
// With Config.RememberConsent, the approval is remembered (see RememberConsentOptions).
func (p *Provider) Approve(r *http.Request, id, subject string, grantedScopes []string) (redirectURL string, err error) {
	return p.approve(r, id, subject, grantedScopes, true)
}

// approve is Approve; remember records the consent for Config.RememberConsent.
func (p *Provider) approve(r *http.Request, id, subject string, grantedScopes []string, remember bool) (redirectURL string, err error) {
	if err := ValidateSubject(subject); err != nil {
		return "", fmt.Errorf("provider: Approve: %w", err)
	}
	if r == nil {
		return "", ErrOtherBrowser
	}
	ctx := withStorageFaults(r.Context())
	r = r.WithContext(ctx)
	defer func() { err = asStorageFailure(ctx, err) }()
	pending, _, err := p.boundPending(r, id)
	if err != nil {
		return "", err
	}
	requested := fosite.RemoveEmpty(strings.Split(pending.Form.Get("scope"), " "))
	for _, s := range grantedScopes {
		if !slices.Contains(requested, s) {
			return "", fmt.Errorf("%w: %q", ErrScopeNotRequested, s)
		}
	}
	ar, err := p.consume(ctx, id)
	if err != nil {
		if p.redirectable(ar) {
			return p.errorRedirect(ar, err), err
		}
		return "", err
	}
	u, err := p.issueCode(ctx, ar, subject, grantedScopes, remember)
	if err != nil {
		if storageFailed(ctx, err) {
			// The pending request is spent: tell the client (RFC 6749 §4.1.2.1), which may start again.
			return p.errorRedirect(ar, p.storageDown(ctx, "issuing authorization code", err)), err
		}
		p.errorf(ctx, "issuing authorization code", err)
		return p.errorRedirect(ar, err), err
	}
	p.observeConsent(ctx, ar, true, subject, grantedScopes, "")
	return u, nil
}

// Deny refuses the pending authorization request id for a user the caller does not
// know (one who refused before logging in): DenyBy with no subject.
func (p *Provider) Deny(r *http.Request, id string) (redirectURL string, err error) {
	return p.DenyBy(r, id, "")
}

// DenyBy refuses the pending authorization request id on behalf of subject, the user
// who refused (the audit trail's consent_denied names them; "" when unknown). It
// consumes the request and returns the URL to send the browser to: the client's
// redirect URI with error=access_denied, state and iss. Like Approve, it returns
// ErrOtherBrowser when r does not come from the browser that sent the authorization
// request, and an error wrapping ErrStorageUnavailable when the storage failed.
func (p *Provider) DenyBy(r *http.Request, id, subject string) (redirectURL string, err error) {
	if r == nil {
		return "", ErrOtherBrowser
	}
	ctx := withStorageFaults(r.Context())
	r = r.WithContext(ctx)
	defer func() { err = asStorageFailure(ctx, err) }()
	if _, _, err := p.boundPending(r, id); err != nil {
		return "", err
	}
	ar, err := p.consume(ctx, id)
	if !p.redirectable(ar) {
		if err == nil {
			err = ErrAuthorizationRequestNotFound
		}
		return "", err
	}
	p.observeConsent(ctx, ar, false, subject, nil, "")
	return p.errorRedirect(ar, fosite.ErrAccessDenied.WithHint("The user denied the request.")), nil
}

// consume takes the pending request id (atomically, once) and validates it again by
// replaying the stored form through the authorization endpoint's validation.
func (p *Provider) consume(ctx context.Context, id string) (*fosite.AuthorizeRequest, error) {
	pending, err := p.store.ConsumePendingAuthorization(ctx, id)
	if err != nil {
		return nil, pendingError(err)
	}
	if !pending.ExpiresAt.IsZero() && time.Now().After(pending.ExpiresAt) {
		return nil, ErrAuthorizationRequestNotFound
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, p.endpoints.authorize+"?"+pending.Form.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	if r.Form.Get("client_id") != pending.ClientID {
		return nil, ErrAuthorizationRequestNotFound
	}
	ar, _, err := p.validateAuthorize(ctx, r, false)
	return ar, err
}

// boundPending returns the pending request id and the value of its binding cookie if r
// comes from the browser it is bound to (ErrOtherBrowser otherwise).
func (p *Provider) boundPending(r *http.Request, id string) (*PendingAuthorization, string, error) {
	if r == nil {
		return nil, "", ErrOtherBrowser
	}
	pending, err := p.store.GetPendingAuthorization(r.Context(), id)
	if err != nil {
		return nil, "", pendingError(err)
	}
	value, err := p.boundValue(r, id, pending)
	if err != nil {
		return nil, "", err
	}
	return pending, value, nil
}

func pendingError(err error) error {
	if errors.Is(err, fosite.ErrNotFound) {
		return ErrAuthorizationRequestNotFound
	}
	return err
}

// pendingParams are the authorization request parameters a pending authorization keeps:
// those consent pages show (prompt=consent asks again for a remembered consent) and that consume replays through validateAuthorize (fosite's
// authorization request parsing and PKCE handler read nothing else). Anything else a
// client sends is dropped, so that junk parameters never reach storage.
var pendingParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", "resource", "prompt",
}

// pendingForm returns the parameters of form a pending authorization stores
// (pendingParams), copied.
func pendingForm(form url.Values) url.Values {
	out := make(url.Values, len(pendingParams))
	for _, k := range pendingParams {
		if vs, ok := form[k]; ok {
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}
