package provider

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	enigma "github.com/ory/fosite/token/hmac"
)

// Device authorization grant (RFC 8628)
//
// A client without a browser (an MCP client in an SSH session, a container, CI) asks the
// device authorization endpoint for a device code and a user code, shows the user the
// verification URI and the user code, and polls the token endpoint with the device code
// while the user opens the URI on another device, enters the code, logs in and approves.
// The device code is an HMAC token like codes and refresh tokens (stored under a hash of
// its signature); the user code is short enough to type, so it is only ever stored as an
// HMAC under the global secret and its entry is rate limited (mcp.RateLimits.UserCode).

// Paths of the device flow's endpoints, relative to the issuer's path.
const (
	DeviceAuthorizationPath = "/device_authorization"
	// DevicePath is the built-in verification page (used when Config.LoginURL is empty).
	DevicePath = "/device"
)

// GrantTypeDeviceCode is the device flow's grant type (RFC 8628 §3.4). A client may use
// the grant only when its GrantTypes include it.
const GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// UserCodeParam is the query parameter of verification_uri_complete and the form field
// a verification page reads the user code from.
const UserCodeParam = "user_code"

// Defaults of DeviceAuthorizationOptions.
const (
	DefaultDeviceCodeLifespan = 10 * time.Minute
	DefaultDevicePollInterval = 5 * time.Second
	// DeviceSlowDownStep is what every slow_down adds to a device code's polling
	// interval (RFC 8628 §3.5).
	DeviceSlowDownStep = 5 * time.Second
)

// UserCodeAlphabet is the alphabet of user codes: 20 consonants, no vowels (no words),
// none of 0/O/1/I (RFC 8628 §6.1). A user code has UserCodeLength characters, so there
// are 20^8 ≈ 2.56·10^10 of them.
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLength is the number of characters of a user code (shown as XXXX-XXXX).
const UserCodeLength = 8

// DeviceAuthorizationOptions turns on the device authorization grant (Config.DeviceAuthorization).
type DeviceAuthorizationOptions struct {
	// Lifespan is how long a device code and its user code are valid (expires_in).
	// Default DefaultDeviceCodeLifespan (10 minutes).
	Lifespan time.Duration
	// Interval is the minimum polling interval a client is told (interval). Default
	// DefaultDevicePollInterval (5 s); each slow_down adds DeviceSlowDownStep for that
	// device code.
	Interval time.Duration
	// VerificationURI is the page where users enter the user code (verification_uri).
	// Default {Issuer}/device, the built-in page; required with Config.LoginURL, where
	// your own page uses DeviceRequest, ApproveDevice and DenyDevice.
	VerificationURI string
}

// DeviceStatus is the state of a device authorization.
type DeviceStatus string

// Device authorization states. pending → approved → consumed, or pending → denied.
const (
	DeviceStatusPending  DeviceStatus = "pending"
	DeviceStatusApproved DeviceStatus = "approved"
	DeviceStatusDenied   DeviceStatus = "denied"
	DeviceStatusConsumed DeviceStatus = "consumed"
)

// DeviceAuthorization is a device authorization request as storage keeps it.
type DeviceAuthorization struct {
	// ClientID is the requesting client.
	ClientID string
	// RequestID identifies the grant (fosite's request ID of the tokens it yields).
	RequestID string
	// Scopes are the requested scopes (after Config.AuthorizeHook).
	Scopes []string
	// Resources are the RFC 8707 resources the tokens will be bound to.
	Resources []string
	// Status is the request's state.
	Status DeviceStatus
	// Subject is the approving user; set on approval.
	Subject string
	// GrantedScopes are the approved scopes; set on approval.
	GrantedScopes []string
	// CreatedAt is when the request was made.
	CreatedAt time.Time
	// ExpiresAt is when the device code and the user code stop working.
	ExpiresAt time.Time
	// Interval is the current minimum polling interval.
	Interval time.Duration
	// LastPolledAt is when the client last polled; zero before the first poll.
	LastPolledAt time.Time
}

// DeviceAuthorizationStore keeps device authorizations. Device codes arrive as the
// signature of the HMAC token, user codes as an HMAC of the normalized code: neither
// is usable as is, and a store keeps only hashes of them.
type DeviceAuthorizationStore interface {
	// CreateDeviceAuthorization stores d. A user code signature already in use yields an
	// error matching fosite.ErrSerializationFailure (the caller draws a new code).
	CreateDeviceAuthorization(ctx context.Context, deviceCodeSignature, userCodeSignature string, d *DeviceAuthorization) error
	// GetDeviceAuthorizationByUserCode returns the pending, unexpired request with that
	// user code; fosite.ErrNotFound otherwise.
	GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeSignature string) (*DeviceAuthorization, error)
	// DecideDeviceAuthorization moves the pending, unexpired request with that user code
	// to approved (with subject and granted scopes) or denied, with a conditional write:
	// of concurrent calls exactly one succeeds, the others (and calls for requests that are
	// absent, expired or decided) get fosite.ErrNotFound.
	DecideDeviceAuthorization(ctx context.Context, userCodeSignature string, approve bool, subject string, granted []string) error
	// PollDeviceAuthorization records a poll at now by clientID and returns the request.
	// tooFast reports that the previous poll was less than the request's interval ago or
	// that a concurrent poll won the conditional write; then the stored interval has
	// grown by step (RFC 8628 §3.5 slow_down). fosite.ErrNotFound when there is no such
	// device code for that client.
	PollDeviceAuthorization(ctx context.Context, deviceCodeSignature, clientID string, now time.Time, step time.Duration) (d *DeviceAuthorization, tooFast bool, err error)
	// ConsumeDeviceAuthorization moves the approved request to consumed with a
	// conditional write: of concurrent calls exactly one succeeds, the others get
	// fosite.ErrNotFound. Inside a transaction (storage.Transactional) when ctx has one.
	ConsumeDeviceAuthorization(ctx context.Context, deviceCodeSignature string) error
}

// Device flow errors (RFC 8628 §3.5), answered with status 400 by the token endpoint.
var (
	ErrAuthorizationPending = &fosite.RFC6749Error{ErrorField: "authorization_pending", CodeField: http.StatusBadRequest,
		DescriptionField: "The user has not yet approved or denied the request."}
	ErrSlowDown = &fosite.RFC6749Error{ErrorField: "slow_down", CodeField: http.StatusBadRequest,
		DescriptionField: "The client is polling too fast; add 5 seconds to its interval."}
	ErrExpiredToken = &fosite.RFC6749Error{ErrorField: "expired_token", CodeField: http.StatusBadRequest,
		DescriptionField: "The device code has expired; start a new device authorization request."}
	ErrDeviceAccessDenied = &fosite.RFC6749Error{ErrorField: "access_denied", CodeField: http.StatusBadRequest,
		DescriptionField: "The user denied the request."}
)

// ErrDeviceRequestNotFound is returned by DeviceRequest, ApproveDevice and DenyDevice for
// a user code that is unknown, expired or already decided.
var ErrDeviceRequestNotFound = errors.New("provider: user code unknown, expired or already used")

// deviceFlow is the device grant's configuration and strategy, nil when it is off.
type deviceFlow struct {
	opts   DeviceAuthorizationOptions
	store  DeviceAuthorizationStore
	enigma *enigma.HMACStrategy
	// userCodeKey keys the HMAC under which user codes are stored.
	userCodeKey []byte
}

// deviceCodePrefix marks device codes, like fosite's ory_ac_/ory_rt_ prefixes.
const deviceCodePrefix = "ory_dc_"

// withDefaults validates o for cfg and fills in its defaults.
func (o DeviceAuthorizationOptions) withDefaults(cfg *Config) (DeviceAuthorizationOptions, error) {
	if o.Lifespan <= 0 {
		o.Lifespan = DefaultDeviceCodeLifespan
	}
	if o.Interval <= 0 {
		o.Interval = DefaultDevicePollInterval
	}
	if o.Interval%time.Second != 0 {
		return o, errors.New("provider: DeviceAuthorizationOptions.Interval must be whole seconds")
	}
	if o.VerificationURI == "" {
		if cfg.LoginURL != "" {
			return o, errors.New("provider: DeviceAuthorizationOptions.VerificationURI is required with Config.LoginURL (your own verification page)")
		}
		o.VerificationURI = cfg.Issuer + DevicePath
	}
	u, err := url.Parse(o.VerificationURI)
	if err != nil || !u.IsAbs() || u.Fragment != "" {
		return o, errors.New("provider: DeviceAuthorizationOptions.VerificationURI must be an absolute URL without a fragment")
	}
	if _, ok := cfg.Storage.(DeviceAuthorizationStore); !ok {
		return o, errors.New("provider: Config.DeviceAuthorization needs a Storage implementing DeviceAuthorizationStore")
	}
	return o, nil
}

// NewUserCode draws a user code: UserCodeLength characters of UserCodeAlphabet from
// crypto/rand, without modulo bias (bytes ≥ 240, the largest multiple of 20 that fits
// a byte, are drawn again). It returns the code without the hyphen.
func NewUserCode() (string, error) {
	const n = len(UserCodeAlphabet)
	const limit = 256 - 256%n // 240
	out := make([]byte, 0, UserCodeLength)
	var buf [16]byte
	for len(out) < UserCodeLength {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, UserCodeAlphabet[int(b)%n])
			if len(out) == UserCodeLength {
				break
			}
		}
	}
	return string(out), nil
}

// NormalizeUserCode returns the canonical form of a typed user code: upper case, with
// hyphens, spaces and other separators removed. It reports false when what remains is
// not UserCodeLength characters of UserCodeAlphabet.
func NormalizeUserCode(typed string) (string, bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '.':
			continue
		case r < 0x80 && strings.ContainsRune(UserCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != UserCodeLength {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a normalized user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// userCodeSignature is the storage key of a normalized user code: an HMAC under a key
// derived from the global secret, so that a database dump does not reveal the codes
// (20^8 values are few enough to hash them all).
func (d *deviceFlow) userCodeSignature(code string) string {
	m := hmac.New(sha256.New, d.userCodeKey)
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// deviceCodeSignature validates a device code's HMAC and returns its signature.
func (d *deviceFlow) deviceCodeSignature(ctx context.Context, code string) (string, error) {
	raw := strings.TrimPrefix(code, deviceCodePrefix)
	if raw == code {
		return "", fosite.ErrInvalidGrant.WithHint("The device code is malformed.")
	}
	if err := d.enigma.Validate(ctx, raw); err != nil {
		return "", fosite.ErrInvalidGrant.WithHint("The device code is invalid.")
	}
	return d.enigma.Signature(raw), nil
}

// DeviceAuthorizationResponse is the RFC 8628 §3.2 response.
type DeviceAuthorizationResponse struct {
	// DeviceCode is the code the client polls the token endpoint with.
	DeviceCode string `json:"device_code"`
	// UserCode is the code the user enters, as XXXX-XXXX.
	UserCode string `json:"user_code"`
	// VerificationURI is where the user enters the code.
	VerificationURI string `json:"verification_uri"`
	// VerificationURIComplete carries the user code (the page still asks to confirm).
	VerificationURIComplete string `json:"verification_uri_complete"`
	// ExpiresIn is the lifetime of both codes in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// Interval is the minimum polling interval in seconds.
	Interval int64 `json:"interval"`
}

// DeviceAuthorization is the device authorization endpoint (RFC 8628 §3.1, POST). The
// client authenticates as at the token endpoint and must be allowed the device_code
// grant; `scope` and `resource` (RFC 8707) are validated exactly as at the authorization
// endpoint (Config.AuthorizeHook, DefaultResource, RequireResource). Errors are RFC 6749
// §5.2 JSON; a storage failure is 503 temporarily_unavailable with Retry-After, never
// invalid_client.
func (p *Provider) DeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	r = watchStorage(r)
	ctx := r.Context()
	if !p.clientPost(w, r, "resource") {
		return
	}
	if p.device == nil {
		p.writeJSONError(w, fosite.ErrUnsupportedGrantType.WithHint("The device authorization grant is not enabled."))
		return
	}
	client, err := p.oauth2.(*fosite.Fosite).AuthenticateClient(ctx, r, r.PostForm)
	if err != nil && storageFailed(ctx, err) {
		p.writeJSONError(w, p.storageDown(ctx, "device authorization: client", err))
		return
	}
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(asClientResolutionError(err))
		if rfc.CodeField >= 500 {
			p.errorf(ctx, "device authorization: client", errors.New(rfc.ErrorField+": "+rfc.DebugField))
			p.writeJSONError(w, fosite.ErrTemporarilyUnavailable)
			return
		}
		p.writeJSONError(w, fosite.ErrInvalidClient.WithHint("Client authentication failed."))
		return
	}
	if !client.GetGrantTypes().Has(GrantTypeDeviceCode) {
		p.writeJSONError(w, fosite.ErrUnauthorizedClient.WithHint("The client is not allowed to use the device authorization grant."))
		return
	}
	view, err := p.deviceView(ctx, client, r.PostForm)
	if err != nil && storageFailed(ctx, err) {
		p.writeJSONError(w, p.storageDown(ctx, "device authorization", err))
		return
	}
	if err != nil {
		p.writeJSONError(w, err)
		return
	}
	resp, err := p.startDeviceAuthorization(ctx, client.GetID(), view)
	if err != nil && storageFailed(ctx, err) {
		p.writeJSONError(w, p.storageDown(ctx, "storing device authorization", err))
		return
	}
	if err != nil {
		p.errorf(ctx, "storing device authorization", err)
		p.writeJSONError(w, fosite.ErrServerError)
		return
	}
	writeJSON(w, resp)
}

// deviceView validates the scope and resource parameters of a device authorization
// request the way the authorization endpoint does and returns the effective request.
func (p *Provider) deviceView(ctx context.Context, client fosite.Client, form url.Values) (*AuthorizationRequest, error) {
	rawScope := form["scope"]
	if len(rawScope) == 1 && len(ParseScope(rawScope[0])) > MaxScopeValues {
		return nil, fosite.ErrInvalidScope.WithHintf("At most %d scopes may be requested.", MaxScopeValues)
	}
	if len(form["resource"]) > MaxResourceValues {
		return nil, fosite.ErrInvalidRequest.WithHintf("At most %d 'resource' parameters may be sent.", MaxResourceValues)
	}
	resources, err := p.canonicalResources(form["resource"])
	if err != nil {
		return nil, err
	}
	if len(resources) == 0 && p.cfg.DefaultResource != "" {
		resources = []string{p.cfg.DefaultResource}
	}
	var scopes []string
	if len(rawScope) == 1 {
		scopes = ParseScope(rawScope[0])
	}
	view := newView(client, "", scopes, resources)
	if err := p.settleScopesAndResources(ctx, client, view, true); err != nil {
		return nil, err
	}
	return view, nil
}

// startDeviceAuthorization issues the device and user codes for view and stores them.
func (p *Provider) startDeviceAuthorization(ctx context.Context, clientID string, view *AuthorizationRequest) (*DeviceAuthorizationResponse, error) {
	d := p.device
	token, sig, err := d.enigma.Generate(ctx)
	if err != nil {
		return nil, err
	}
	requestID, err := randid.New(randid.Secret)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	auth := &DeviceAuthorization{
		ClientID:  clientID,
		RequestID: requestID,
		Scopes:    view.Scopes,
		Resources: view.Resources,
		Status:    DeviceStatusPending,
		CreatedAt: now,
		ExpiresAt: now.Add(d.opts.Lifespan),
		Interval:  d.opts.Interval,
	}
	var userCode string
	for attempt := 0; ; attempt++ {
		if userCode, err = NewUserCode(); err != nil {
			return nil, err
		}
		err = d.store.CreateDeviceAuthorization(ctx, sig, d.userCodeSignature(userCode), auth)
		if err == nil {
			break
		}
		// A user code collision (about one in 2.56·10^10 per live code): draw again.
		if !errors.Is(err, fosite.ErrSerializationFailure) || attempt >= 3 {
			return nil, err
		}
	}
	complete, _ := url.Parse(d.opts.VerificationURI)
	q := complete.Query()
	q.Set(UserCodeParam, FormatUserCode(userCode))
	complete.RawQuery = q.Encode()
	return &DeviceAuthorizationResponse{
		DeviceCode:              deviceCodePrefix + token,
		UserCode:                FormatUserCode(userCode),
		VerificationURI:         d.opts.VerificationURI,
		VerificationURIComplete: complete.String(),
		ExpiresIn:               int64(d.opts.Lifespan / time.Second),
		Interval:                int64(d.opts.Interval / time.Second),
	}, nil
}

// DeviceRequest is a pending device authorization as a verification page shows it: who
// asks (RFC 8628 §5.4: the user must see it before approving) and for what. Every
// string in it may come from the client: escape it when rendering.
type DeviceRequest struct {
	// UserCode is the normalized user code, formatted XXXX-XXXX.
	UserCode string
	// RequestingClient is who asks (RFC 8628 §5.4: the user must see it before
	// approving): the client's ID, name, home page and registration.
	RequestingClient
	// Scopes are the requested scopes.
	Scopes []string
	// Resources are the RFC 8707 resources (MCP servers) the tokens will be bound to.
	Resources []string
	// ExpiresAt is when the user code expires.
	ExpiresAt time.Time
}

// DeviceRequest returns the pending device authorization for a user code as the user
// typed it (case and hyphens do not matter), without deciding it. Rate limit the page
// that calls it (mcp.Server.LimitUserCode): user codes are short.
// ErrDeviceRequestNotFound when the code is malformed, unknown, expired or decided.
func (p *Provider) DeviceRequest(ctx context.Context, userCode string) (*DeviceRequest, error) {
	req, _, err := p.deviceRequest(ctx, userCode)
	return req, err
}

// deviceRequest is DeviceRequest with the stored authorization it shows.
func (p *Provider) deviceRequest(ctx context.Context, userCode string) (*DeviceRequest, *DeviceAuthorization, error) {
	if p.device == nil {
		return nil, nil, ErrDeviceRequestNotFound
	}
	code, ok := NormalizeUserCode(userCode)
	if !ok {
		return nil, nil, ErrDeviceRequestNotFound
	}
	d, err := p.device.store.GetDeviceAuthorizationByUserCode(ctx, p.device.userCodeSignature(code))
	if err != nil {
		return nil, nil, deviceError(err)
	}
	client, err := p.store.GetClient(ctx, d.ClientID)
	if err != nil {
		return nil, nil, deviceError(err)
	}
	v := newView(client, "", d.Scopes, d.Resources)
	return &DeviceRequest{
		UserCode:         FormatUserCode(code),
		RequestingClient: v.RequestingClient,
		Scopes:           v.Scopes,
		Resources:        v.Resources,
		ExpiresAt:        d.ExpiresAt,
	}, d, nil
}

// ApproveDevice approves the pending device authorization for userCode on behalf of
// subject, granting grantedScopes (a subset of the requested scopes; nil grants none)
// and the requested resources. The client's next poll receives the tokens. Single use:
// of concurrent decisions one wins, the others get ErrDeviceRequestNotFound.
func (p *Provider) ApproveDevice(ctx context.Context, userCode, subject string, grantedScopes []string) error {
	if err := ValidateSubject(subject); err != nil {
		return fmt.Errorf("provider: ApproveDevice: %w", err)
	}
	req, d, err := p.deviceRequest(ctx, userCode)
	if err != nil {
		return err
	}
	for _, s := range grantedScopes {
		if !slices.Contains(req.Scopes, s) {
			return fmt.Errorf("%w: %q", ErrScopeNotRequested, s)
		}
	}
	granted := lists.Dedupe(grantedScopes)
	code, _ := NormalizeUserCode(userCode)
	// The grant is recorded with the approval, as an authorization code's is, so that
	// revoking it ("sign out everywhere" right after approving a device) stops the device
	// code before the client's next poll redeems it. Decision first, in one transaction:
	// of two approvals racing, the loser records nothing (its grant would otherwise own
	// the winner's request).
	err = p.inWriteTx(ctx, func(ctx context.Context) error {
		if err := p.device.store.DecideDeviceAuthorization(ctx, p.device.userCodeSignature(code), true, subject, granted); err != nil {
			return err
		}
		return p.recordApproval(ctx, d.RequestID, d.ClientID, subject, granted, d.Resources, d.ExpiresAt, false)
	})
	if err := deviceError(err); err != nil {
		return err
	}
	p.observeDeviceConsent(ctx, req, true, subject, grantedScopes)
	return nil
}

// DenyDevice denies the pending device authorization for userCode for a user the caller
// does not know: DenyDeviceBy with no subject.
func (p *Provider) DenyDevice(ctx context.Context, userCode string) error {
	return p.DenyDeviceBy(ctx, userCode, "")
}

// DenyDeviceBy denies the pending device authorization for userCode on behalf of
// subject, the user who refused (the audit trail's consent_denied names them; "" when
// unknown): the client's next poll gets access_denied.
func (p *Provider) DenyDeviceBy(ctx context.Context, userCode, subject string) error {
	if p.device == nil {
		return ErrDeviceRequestNotFound
	}
	code, ok := NormalizeUserCode(userCode)
	if !ok {
		return ErrDeviceRequestNotFound
	}
	req := p.deviceRequestObserved(ctx, userCode)
	if err := deviceError(p.device.store.DecideDeviceAuthorization(ctx, p.device.userCodeSignature(code), false, "", nil)); err != nil {
		return err
	}
	p.observeDeviceConsent(ctx, req, false, subject, nil)
	return nil
}

// DeviceVerificationURI returns the verification URI of the device flow, or "" when the
// flow is off.
func (p *Provider) DeviceVerificationURI() string {
	if p.device == nil {
		return ""
	}
	return p.device.opts.VerificationURI
}

func deviceError(err error) error {
	if errors.Is(err, fosite.ErrNotFound) {
		return ErrDeviceRequestNotFound
	}
	return err
}
