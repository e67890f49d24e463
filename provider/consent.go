package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"time"

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
