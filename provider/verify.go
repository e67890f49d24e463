package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
)

// VerifyAccessToken checks an access token presented to a resource server in this
// process: it must be well-formed, signed by this server, stored, unrevoked and
// unexpired, and an access token (a refresh token or code is refused). Every refusal
// wraps ErrInvalidToken; other errors (storage failures) do not. The caller must still
// check the audience and scopes it needs.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*AccessToken, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", ErrInvalidToken)
	}
	// Check the signature before touching storage, so forged tokens cost no query.
	probe := fosite.NewAccessRequest(&Session{ExpiresAt: map[fosite.TokenType]time.Time{
		fosite.AccessToken: time.Now().Add(100 * 365 * 24 * time.Hour),
	}})
	if err := p.strategy.ValidateAccessToken(ctx, probe, token); err != nil {
		return nil, fmt.Errorf("%w: malformed or not signed by this server", ErrInvalidToken)
	}
	sig := p.strategy.AccessTokenSignature(ctx, token)
	if sig == "" {
		return nil, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	ar, err := p.store.GetAccessTokenSession(ctx, sig, NewSession(""))
	if err != nil {
		if errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInactiveToken) {
			return nil, fmt.Errorf("%w: unknown or revoked", ErrInvalidToken)
		}
		return nil, fmt.Errorf("provider: loading access token: %w", err)
	}
	// The signature was checked above; what the stored session adds is the expiry (for
	// HMAC tokens the only place it lives). Checking it here rather than validating the
	// token again spares JWT access tokens a second signature verification.
	if s := ar.GetSession(); s != nil {
		if exp := s.GetExpiresAt(fosite.AccessToken); !exp.IsZero() && !time.Now().Before(exp) {
			return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
		}
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
