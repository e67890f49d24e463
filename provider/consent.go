package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
	"github.com/ory/fosite"
)

// DefaultRememberConsentLifetime is RememberConsentOptions.Lifetime's default.
const DefaultRememberConsentLifetime = 30 * 24 * time.Hour

// RememberConsentOptions configure remembered consent (Config.RememberConsent).
//
// A consent is remembered per grant (user × client × resources) and skips the consent page
// for a later authorization request of the same user, client and resources when:
//   - every requested scope was approved before (a wider scope asks again);
//   - the client's name and redirect URIs are unchanged since (an RFC 7592 update or a
//     changed client ID metadata document asks again: see ClientFingerprint);
//   - the request does not carry prompt=consent;
//   - the consent has not expired (Lifetime after the last approval) and the grant was
//     not revoked.
//
// The user always logs in: remembering skips the consent, never the authentication.
type RememberConsentOptions struct {
	// Lifetime is how long an approval is remembered. Zero means
	// DefaultRememberConsentLifetime (30 days). Each new approval (after a re-ask)
	// restarts it; a skipped consent page does not.
	Lifetime time.Duration
}

func (o RememberConsentOptions) withDefaults(s Storage) (RememberConsentOptions, error) {
	if o.Lifetime < 0 {
		return o, errors.New("provider: RememberConsent.Lifetime must not be negative")
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultRememberConsentLifetime
	}
	if _, ok := s.(GrantStore); !ok {
		return o, errors.New("provider: Config.RememberConsent needs a Storage implementing GrantStore")
	}
	return o, nil
}

// ClientFingerprint summarizes what a user consented to about a client besides its ID:
// its name and redirect URIs. A remembered consent holds only while it is unchanged.
func ClientFingerprint(c fosite.Client) string {
	h := sha256.New()
	if pc, ok := c.(*Client); ok {
		h.Write([]byte(pc.Name))
	}
	h.Write([]byte{0})
	uris := slices.Clone(c.GetRedirectURIs())
	slices.Sort(uris)
	for _, u := range uris {
		h.Write([]byte(u))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// RememberedConsent sets req.AlreadyApproved and req.RememberedScopes for subject, the
// user who has just logged in (or is signed in), from the user's remembered consent for
// req's client and resources. Without Config.RememberConsent it leaves them unset. req is
// what AuthorizationRequest returned.
func (p *Provider) RememberedConsent(ctx context.Context, req *AuthorizationRequest, subject string) error {
	req.AlreadyApproved, req.RememberedScopes = false, nil
	if p.cfg.RememberConsent == nil || subject == "" {
		return nil
	}
	remembered, all, err := p.rememberedScopes(ctx, req, subject)
	if err != nil {
		return err
	}
	req.AlreadyApproved, req.RememberedScopes = all, remembered
	return nil
}

// rememberedScopes returns the requested scopes of req that subject's remembered consent
// covers, and whether it covers the whole request (see RememberConsentOptions).
func (p *Provider) rememberedScopes(ctx context.Context, req *AuthorizationRequest, subject string) ([]string, bool, error) {
	gs, err := p.grantStore()
	if err != nil {
		return nil, false, err
	}
	g, err := gs.GetGrant(ctx, subject, req.ClientID, req.Resources)
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if g.ConsentRememberedUntil.IsZero() || !time.Now().Before(g.ConsentRememberedUntil) {
		return nil, false, nil
	}
	client, err := p.store.GetClient(ctx, req.ClientID)
	if err != nil {
		return nil, false, err
	}
	if ClientFingerprint(client) != g.ClientFingerprint {
		return nil, false, nil // the client's name or redirect URIs changed since
	}
	var remembered []string
	for _, s := range req.Scopes {
		if slices.Contains(g.Scopes, s) {
			remembered = append(remembered, s)
		}
	}
	all := len(remembered) == len(req.Scopes) && !slices.Contains(req.Prompt, "consent")
	return remembered, all, nil
}

// ApproveRemembered approves the pending authorization request id for subject, the user
// who has just logged in (or is signed in), without showing the consent page, when the
// user's remembered consent covers it (Config.RememberConsent; see
// RememberConsentOptions for what asks again). It returns ok false, with no error, when
// the page must ask; otherwise what Approve returns. It does not restart the remembered
// consent's lifetime. r is the browser's request to the login page, as for Approve.
func (p *Provider) ApproveRemembered(r *http.Request, id, subject string) (redirectURL string, ok bool, err error) {
	if p.cfg.RememberConsent == nil || subject == "" {
		return "", false, nil
	}
	req, err := p.AuthorizationRequest(r, id)
	if err != nil {
		return "", false, err
	}
	if _, all, err := p.rememberedScopes(r.Context(), req, subject); err != nil || !all {
		return "", false, err
	}
	p.observe(r.Context(), observe.Event{Kind: observe.ConsentRemembered, Subject: subject, ClientID: req.ClientID,
		Scopes: req.Scopes, Resources: req.Resources})
	u, err := p.approve(r, id, subject, req.Scopes, false)
	return u, true, err
}
