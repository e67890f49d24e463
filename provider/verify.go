package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// VerifyAccessToken checks an access token presented to a resource server in this
// process: it must be well-formed, signed by this server, stored, unrevoked and
// unexpired, and an access token (a refresh token or code is refused). Every refusal
// wraps ErrInvalidToken; other errors (storage failures) do not. The caller must still
// check the audience and scopes it needs.
//
// A token verified against storage is then served from memory for a short time
// (Config.VerifiedTokenCacheTTL); the signature and expiry are checked on every call, and
// a revocation through this process's Storage takes effect at once.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*AccessToken, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", ErrInvalidToken)
	}
	// Check the signature before touching storage, so forged tokens cost no query.
	sig, err := p.checkAccessTokenSignature(ctx, token)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var count uint64
	if p.tokens != nil {
		if at := p.tokens.get(sig, now); at != nil {
			if !now.Before(at.ExpiresAt) {
				return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
			}
			return at, nil
		}
		count = p.tokens.count() // before the read: a revocation from now on voids the entry
	}
	at, err := p.loadAccessToken(ctx, sig)
	if err != nil {
		return nil, err
	}
	// The signature was checked above; what the stored session adds is the expiry (for
	// HMAC tokens the only place it lives). Checking it here rather than validating the
	// token again spares JWT access tokens a second signature verification.
	if !now.Before(at.ExpiresAt) {
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	if p.tokens != nil {
		p.tokens.put(sig, at, count, now)
	}
	return at, nil
}

// checkAccessTokenSignature checks that token was signed by this server and returns its
// storage signature. Opaque tokens are checked with fosite's HMAC directly, without the
// request fosite's strategy interface needs only to check an expiry that lives in storage.
func (p *Provider) checkAccessTokenSignature(ctx context.Context, token string) (string, error) {
	if h, ok := p.strategy.AccessTokenStrategy.(*orderedHMAC); ok {
		if h.Enigma.Validate(ctx, strings.TrimPrefix(token, opaqueAccessTokenPrefix)) != nil {
			return "", fmt.Errorf("%w: malformed or not signed by this server", ErrInvalidToken)
		}
	} else {
		probe := fosite.NewAccessRequest(&Session{ExpiresAt: map[fosite.TokenType]time.Time{
			fosite.AccessToken: time.Now().Add(100 * 365 * 24 * time.Hour),
		}})
		if err := p.strategy.ValidateAccessToken(ctx, probe, token); err != nil {
			return "", fmt.Errorf("%w: malformed or not signed by this server", ErrInvalidToken)
		}
	}
	sig := p.strategy.AccessTokenSignature(ctx, token)
	if sig == "" {
		return "", fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	return sig, nil
}

// loadAccessToken reads the access token stored under sig: ErrInvalidToken when it is
// unknown or revoked, its expiry filled in from the lifespan when the session has none.
func (p *Provider) loadAccessToken(ctx context.Context, sig string) (*AccessToken, error) {
	ar, err := p.store.GetAccessTokenSession(ctx, sig, NewSession(""))
	if err != nil {
		if errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInactiveToken) {
			return nil, fmt.Errorf("%w: unknown or revoked", ErrInvalidToken)
		}
		return nil, fmt.Errorf("provider: loading access token: %w", err)
	}
	at := &AccessToken{
		ClientID: ar.GetClient().GetID(),
		Scopes:   append([]string{}, ar.GetGrantedScopes()...),
		Audience: append([]string{}, ar.GetGrantedAudience()...),
		IssuedAt: ar.GetRequestedAt(),
		GrantID:  ar.GetID(),
	}
	if s := ar.GetSession(); s != nil {
		at.Subject = s.GetSubject()
		at.ExpiresAt = s.GetExpiresAt(fosite.AccessToken)
	}
	if at.ExpiresAt.IsZero() {
		at.ExpiresAt = at.IssuedAt.Add(p.cfg.AccessTokenLifespan)
	}
	return at, nil
}
