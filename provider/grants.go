package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
	"github.com/ory/fosite"
)

// A grant is what one user (subject) authorized one client to do with one set of RFC 8707
// resources: every authorization code, access token and refresh token issued from the
// user's approvals of that client for those resources belongs to it. Users list their
// grants ("connected apps") and revoke them; operators revoke every grant of a client.

// Grant describes a grant for display. It never contains a secret, code or token.
type Grant struct {
	// ID identifies the grant; stable while it exists, opaque.
	ID string
	// Subject is the user who approved it.
	Subject string
	// ClientID is the client it was approved for.
	ClientID string
	// ClientName is the client's registered name; empty when it has none.
	ClientName string
	// ClientIDHost is the host of the client ID for a client ID metadata document client
	// (an https client ID), else empty: whoever controls it vouches for ClientName.
	ClientIDHost string
	// Scopes are the scopes the user approved (the union of every approval of the grant).
	Scopes []string
	// Resources are the RFC 8707 resources the grant's tokens are bound to.
	Resources []string
	// FirstGrantedAt is when the user first approved the client for these resources.
	FirstGrantedAt time.Time
	// LastUsedAt is when the client last exchanged a code or refreshed a token of the
	// grant (FirstGrantedAt until then). Bearer checks do not count: they write nothing.
	LastUsedAt time.Time
	// ExpiresAt is when the grant's newest tokens expire (the refresh token's expiry when
	// one was issued); zero when they never expire.
	ExpiresAt time.Time
	// ConsentRememberedUntil is when the remembered consent (Config.RememberConsent)
	// expires; zero when consent is not remembered.
	ConsentRememberedUntil time.Time
}

// StoredGrant is a grant as GrantStore keeps it.
type StoredGrant struct {
	// Grant is what the grant lists; storage leaves ClientIDHost empty (the provider fills it).
	Grant
	// ClientFingerprint is ClientFingerprint of the client when consent was last given:
	// a remembered consent only holds while the client's name and redirect URIs are unchanged.
	ClientFingerprint string
}

// GrantRecord is one approval recorded with GrantStore.RecordGrant.
type GrantRecord struct {
	// RequestID is fosite's request ID of the approval, which its code and every token
	// minted from the code (and their refreshes) carry.
	RequestID string
	// Subject, ClientID and Resources identify the grant.
	Subject   string
	ClientID  string
	Resources []string
	// Scopes are the approved scopes; they are added to the grant's.
	Scopes []string
	// At is when the user approved.
	At time.Time
	// ExpiresAt is when what was issued (the code) expires.
	ExpiresAt time.Time
	// RememberUntil, when not zero, remembers the consent until then for ClientFingerprint
	// (the grant's scopes are then replaced, not added to, when the fingerprint changed).
	RememberUntil     time.Time
	ClientFingerprint string
}

// GrantFilter selects grants: by Subject, by ClientID, or one grant (ID with Subject).
// At least one of Subject and ClientID is set.
type GrantFilter struct {
	// Subject selects the grants of one user.
	Subject string
	// ClientID selects the grants of one client.
	ClientID string
	// ID selects one grant (with Subject: only that user's).
	ID string
}

// GrantStore keeps grants. storage/gorm implements it; a Storage without it has no grants
// API and no remembered consent (New refuses Config.RememberConsent then).
type GrantStore interface {
	// RecordGrant adds an approval to its grant (creating the grant) and links
	// rec.RequestID to it, so that revoking the grant reaches the tokens of the request.
	RecordGrant(ctx context.Context, rec GrantRecord) error
	// TouchGrant records that the grant of requestID was used at at (a code exchange or
	// a refresh) and that its newest tokens expire at expiresAt (zero: never). Unknown
	// request IDs are not an error.
	TouchGrant(ctx context.Context, requestID string, at, expiresAt time.Time) error
	// GetGrant returns the grant of subject, client and resources; fosite.ErrNotFound
	// when there is none or it has expired.
	GetGrant(ctx context.Context, subject, clientID string, resources []string) (*StoredGrant, error)
	// ListGrants returns up to limit unexpired grants matching f, ordered by ID, after the
	// one cursor names ("" for the first page), and the cursor of the next page ("" after
	// the last). ErrInvalidGrantCursor for a cursor it did not return.
	ListGrants(ctx context.Context, f GrantFilter, cursor string, limit int) ([]StoredGrant, string, error)
	// RevokeGrants deletes the grants matching f and revokes every code (an approved
	// device code too), access token and refresh token of them, and returns how many
	// grants it deleted. Tokens minted by a
	// refresh or code exchange running at the same moment are revoked too.
	RevokeGrants(ctx context.Context, f GrantFilter) (int, error)
}

// ErrGrantsUnsupported is returned by the grants API when the Storage does not implement GrantStore.
var ErrGrantsUnsupported = errors.New("provider: the storage does not keep grants (GrantStore)")

// ErrGrantNotFound is returned by RevokeGrant for a grant that does not exist (or is not the subject's).
var ErrGrantNotFound = errors.New("provider: grant not found")

// ErrInvalidGrantCursor is returned for a page cursor the grants API did not hand out.
var ErrInvalidGrantCursor = errors.New("provider: invalid grant page cursor")

// DefaultGrantPageSize and MaxGrantPageSize bound ListGrantsOptions.Limit.
const (
	DefaultGrantPageSize = 50
	MaxGrantPageSize     = 500
)

// ListGrantsOptions page through grants. Nil means the first page of DefaultGrantPageSize.
type ListGrantsOptions struct {
	// Cursor is the GrantPage.NextCursor of the previous page; empty for the first page.
	Cursor string
	// Limit is the page size: 0 means DefaultGrantPageSize, at most MaxGrantPageSize.
	Limit int
}

// GrantPage is one page of grants.
type GrantPage struct {
	// Grants are the page's grants, ordered by ID.
	Grants []Grant
	// NextCursor fetches the next page (ListGrantsOptions.Cursor); empty on the last page.
	NextCursor string
}

func (p *Provider) grantStore() (GrantStore, error) {
	gs, ok := p.store.(GrantStore)
	if !ok {
		return nil, ErrGrantsUnsupported
	}
	return gs, nil
}

// ListGrants lists subject's live grants ("connected apps"), a page at a time, for a page
// where the user sees which clients hold access to their account.
func (p *Provider) ListGrants(ctx context.Context, subject string, opts *ListGrantsOptions) (*GrantPage, error) {
	if subject == "" {
		return nil, errors.New("provider: ListGrants needs a subject")
	}
	return p.listGrants(ctx, GrantFilter{Subject: subject}, opts)
}

// ListClientGrants lists every live grant of clientID (an operator's view, e.g. before
// revoking the grants of a compromised client).
func (p *Provider) ListClientGrants(ctx context.Context, clientID string, opts *ListGrantsOptions) (*GrantPage, error) {
	if clientID == "" {
		return nil, errors.New("provider: ListClientGrants needs a client ID")
	}
	return p.listGrants(ctx, GrantFilter{ClientID: clientID}, opts)
}

func (p *Provider) listGrants(ctx context.Context, f GrantFilter, opts *ListGrantsOptions) (*GrantPage, error) {
	gs, err := p.grantStore()
	if err != nil {
		return nil, err
	}
	var o ListGrantsOptions
	if opts != nil {
		o = *opts
	}
	if o.Limit <= 0 {
		o.Limit = DefaultGrantPageSize
	}
	o.Limit = min(o.Limit, MaxGrantPageSize)
	stored, next, err := gs.ListGrants(ctx, f, o.Cursor, o.Limit)
	if err != nil {
		return nil, err
	}
	page := &GrantPage{Grants: make([]Grant, 0, len(stored)), NextCursor: next}
	for _, g := range stored {
		g.ClientIDHost = clientIDHost(g.ClientID)
		page.Grants = append(page.Grants, g.Grant)
	}
	return page, nil
}

// RevokeGrant revokes subject's grant id: its remembered consent and every code, access
// token and refresh token of it, at once and on every replica sharing the storage (an
// access token is refused by the next VerifyAccessToken, a refresh token by the token
// endpoint with invalid_grant). ErrGrantNotFound when subject has no such grant.
func (p *Provider) RevokeGrant(ctx context.Context, subject, id string) error {
	if subject == "" || id == "" {
		return ErrGrantNotFound
	}
	n, err := p.revokeGrants(ctx, GrantFilter{Subject: subject, ID: id}, observe.ActorUser)
	if err == nil && n == 0 {
		return ErrGrantNotFound
	}
	return err
}

// RevokeAllGrants revokes every grant of subject ("sign out of every MCP client") and
// returns how many there were.
func (p *Provider) RevokeAllGrants(ctx context.Context, subject string) (int, error) {
	if subject == "" {
		return 0, errors.New("provider: RevokeAllGrants needs a subject")
	}
	return p.revokeGrants(ctx, GrantFilter{Subject: subject}, observe.ActorUser)
}

// RevokeClientGrants revokes every grant of clientID (an operator action, e.g. after the
// client was compromised) and returns how many there were. The client stays registered;
// to remove it too, delete it (ClientStore.DeleteClient), which also removes its tokens.
func (p *Provider) RevokeClientGrants(ctx context.Context, clientID string) (int, error) {
	if clientID == "" {
		return 0, errors.New("provider: RevokeClientGrants needs a client ID")
	}
	return p.revokeGrants(ctx, GrantFilter{ClientID: clientID}, observe.ActorOperator)
}

func (p *Provider) revokeGrants(ctx context.Context, f GrantFilter, by string) (int, error) {
	gs, err := p.grantStore()
	if err != nil {
		return 0, err
	}
	n, err := gs.RevokeGrants(ctx, f)
	if err != nil {
		return n, fmt.Errorf("provider: revoking grants: %w", err)
	}
	if n > 0 {
		p.observe(ctx, observe.Event{Kind: observe.GrantRevoked, Actor: by, Subject: f.Subject, ClientID: f.ClientID, Count: int64(n)})
	}
	return n, nil
}

// recordGrant records the approval of ar (whose code was just issued) for subject.
// remember asks for the consent to be remembered (Config.RememberConsent).
func (p *Provider) recordGrant(ctx context.Context, ar fosite.Requester, subject string, remember bool) error {
	rec, err := p.grantRecord(ctx, ar, subject, remember)
	if rec == nil || err != nil {
		return err
	}
	return p.store.(GrantStore).RecordGrant(ctx, *rec)
}

// grantRecord is recordGrant's record (approvalRecord); nil when none is kept.
func (p *Provider) grantRecord(ctx context.Context, ar fosite.Requester, subject string, remember bool) (*GrantRecord, error) {
	return p.approvalRecord(ctx, ar.GetID(), ar.GetClient().GetID(), subject, ar.GetGrantedScopes(), ar.GetGrantedAudience(),
		ar.GetSession().GetExpiresAt(fosite.AuthorizeCode), remember)
}

// recordApproval records subject's approval of clientID (approvalRecord).
func (p *Provider) recordApproval(ctx context.Context, requestID, clientID, subject string, scopes, resources []string, expires time.Time, remember bool) error {
	rec, err := p.approvalRecord(ctx, requestID, clientID, subject, scopes, resources, expires, remember)
	if rec == nil || err != nil {
		return err
	}
	return p.store.(GrantStore).RecordGrant(ctx, *rec)
}

// approvalRecord is the GrantRecord of subject's approval of clientID for scopes and
// resources under fosite's request ID requestID, whose first credential (a code) expires
// at expires (zero: AuthorizeCodeLifespan from now); nil without a GrantStore or a
// subject, where no grant is kept.
func (p *Provider) approvalRecord(ctx context.Context, requestID, clientID, subject string, scopes, resources []string, expires time.Time, remember bool) (*GrantRecord, error) {
	if _, ok := p.store.(GrantStore); !ok || subject == "" {
		return nil, nil
	}
	now := time.Now().UTC()
	rec := GrantRecord{
		RequestID: requestID,
		Subject:   subject,
		ClientID:  clientID,
		Resources: resources,
		Scopes:    scopes,
		At:        now,
		ExpiresAt: expires,
	}
	if rec.ExpiresAt.IsZero() {
		rec.ExpiresAt = now.Add(p.cfg.AuthorizeCodeLifespan)
	}
	if remember && p.cfg.RememberConsent != nil {
		// The stored client: a request's copy may carry this request's redirect URI (a
		// loopback port added, see fositeStore.GetClient).
		client, err := p.store.GetClient(ctx, clientID)
		if err != nil {
			return nil, err
		}
		rec.RememberUntil = now.Add(p.cfg.RememberConsent.Lifetime)
		rec.ClientFingerprint = ClientFingerprint(client)
	}
	return &rec, nil
}

// recordGrantUse records a token response's use of ar's grant (grantUse). A failure is
// logged, never the client's problem.
func (p *Provider) recordGrantUse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) {
	use := p.grantUse(ar, resp)
	if use == nil {
		return
	}
	if err := p.store.(GrantStore).TouchGrant(ctx, use.RequestID, use.At, use.ExpiresAt); err != nil {
		p.log.WarnContext(ctx, "recording grant use", slog.String("error", err.Error()))
	}
}

// grantUse is a token response's use of ar's grant: last used now, and the expiry of the
// tokens just issued; nil when the storage keeps no grants or the grant has no subject.
func (p *Provider) grantUse(ar fosite.AccessRequester, resp fosite.AccessResponder) *GrantUse {
	if _, ok := p.store.(GrantStore); !ok || ar.GetSession() == nil || ar.GetSession().GetSubject() == "" {
		return nil
	}
	exp := ar.GetSession().GetExpiresAt(fosite.AccessToken)
	if resp.GetExtra("refresh_token") != nil {
		// Zero when refresh tokens never expire (Config.RefreshTokenLifespan < 0).
		exp = ar.GetSession().GetExpiresAt(fosite.RefreshToken)
	}
	return &GrantUse{RequestID: ar.GetID(), At: time.Now().UTC(), ExpiresAt: exp}
}
