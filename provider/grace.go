package provider

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"
)

// DefaultRefreshTokenGraceReuses is RefreshTokenGrace.MaxReuses when the grace window
// is configured without it.
const DefaultRefreshTokenGraceReuses = 2

// RefreshTokenGrace is a grace window for rotated refresh tokens (Config.RefreshTokenGrace).
//
// Without it, rotation is strict: a refresh token works once, and presenting it again
// revokes the whole grant (reuse detection, OAuth 2.1 §4.3.1 and RFC 9700 §4.14.2). That
// turns two processes of one MCP host refreshing with a shared token at the same moment
// into a logout. With it, a rotated token presented again within Period of its first use,
// at most MaxReuses times, gets fresh tokens of its own (a second token chain of the same
// grant; the chains rotate independently and all die when the grant is revoked). Within
// the window, further uses fail with invalid_grant without revoking anything; after it,
// any use revokes the grant as before. Revoking the grant (RFC 7009, or reuse detection)
// ends every grace window at once.
type RefreshTokenGrace struct {
	// Period is how long after its first use a rotated refresh token may be used again.
	// Zero disables the grace window. Keep it short (seconds): a stolen refresh token
	// presented within the window is indistinguishable from a concurrent legitimate use.
	Period time.Duration
	// MaxReuses is how many times a rotated refresh token may be used again within
	// Period. Default DefaultRefreshTokenGraceReuses.
	MaxReuses int
}

// RefreshTokenGraceStorage is implemented by storages that support the refresh token
// grace window (storage/gorm does). The provider calls these methods instead of
// GetRefreshTokenSession and RotateRefreshToken for refresh token grant requests when
// Config.RefreshTokenGrace is set.
type RefreshTokenGraceStorage interface {
	// GetRefreshTokenSessionWithGrace is GetRefreshTokenSession, except for a rotated
	// token first used less than grace.Period ago: it is returned without error while it
	// has been used again fewer than grace.MaxReuses times, and with an error wrapping
	// ErrRefreshTokenReuseLimit afterwards. A token revoked with its grant, or rotated
	// longer ago, yields the request and fosite.ErrInactiveToken as usual.
	GetRefreshTokenSessionWithGrace(ctx context.Context, signature string, session fosite.Session, grace RefreshTokenGrace) (fosite.Requester, error)
	// RotateRefreshTokenWithGrace is RotateRefreshToken for the grace window. On the
	// token's first use it deactivates the token, records the time of first use and
	// revokes the access token issued with it, but leaves the grant's other tokens alone
	// (other chains stay valid). On a use within the window it counts the reuse, with a
	// conditional write so that of concurrent reuses at most grace.MaxReuses succeed in
	// total; the others get an error wrapping ErrRefreshTokenReuseLimit when the limit is
	// reached, or fosite.ErrSerializationFailure when they lost a race (the provider
	// retries them, and the retry sees the limit). An unknown token is fosite.ErrNotFound.
	RotateRefreshTokenWithGrace(ctx context.Context, requestID, signature string, grace RefreshTokenGrace) error
}

// ErrRefreshTokenReuseLimit is wrapped by GetRefreshTokenSessionWithGrace when a rotated
// refresh token has used up its reuses within the grace window. The token endpoint
// answers invalid_grant and revokes nothing.
var ErrRefreshTokenReuseLimit = errors.New("provider: refresh token reuse limit reached within the grace window")

type refreshGrantKey struct{}

// withRefreshGrant marks ctx as a refresh token grant request: only those use the grace
// window (introspection and revocation see rotated tokens as inactive).
func withRefreshGrant(ctx context.Context) context.Context {
	return context.WithValue(ctx, refreshGrantKey{}, true)
}

func inRefreshGrant(ctx context.Context) bool {
	v, _ := ctx.Value(refreshGrantKey{}).(bool)
	return v
}

type revocationKey struct{}

// withRevocation marks ctx as a revocation request (RFC 7009).
func withRevocation(ctx context.Context) context.Context {
	return context.WithValue(ctx, revocationKey{}, true)
}

func inRevocation(ctx context.Context) bool {
	v, _ := ctx.Value(revocationKey{}).(bool)
	return v
}

// GetRefreshTokenSession implements fosite's RefreshTokenStorage, with the grace window
// for refresh token grant requests when configured. For a revocation request, a refresh
// token that is known but no longer active (rotated, or revoked before) is returned as if
// active, so that revoking it revokes its grant: a client that revokes the refresh token
// it holds while a refresh with it completes (or whose refresh response was lost) must not
// leave the rotated successor working. The owner check still applies, and presenting a
// rotated token at the token endpoint revokes the grant anyway (reuse detection).
func (s fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	if s.grace.Period > 0 && inRefreshGrant(ctx) {
		req, err := s.Storage.(RefreshTokenGraceStorage).GetRefreshTokenSessionWithGrace(ctx, signature, session, s.grace)
		return req, noteStorage(ctx, err)
	}
	req, err := s.Storage.GetRefreshTokenSession(ctx, signature, session)
	_ = noteStorage(ctx, err)
	if err != nil && req != nil && inRevocation(ctx) && errors.Is(err, fosite.ErrInactiveToken) {
		return req, nil
	}
	return req, err
}

// RotateRefreshToken implements fosite's TokenRevocationStorage, with the grace window
// for refresh token grant requests when configured. In a token response that collects its
// writes (collector) the token is rotated with them.
func (s fositeStore) RotateRefreshToken(ctx context.Context, requestID string, refreshSignature string) error {
	graced := s.grace.Period > 0 && inRefreshGrant(ctx)
	rot := &Rotation{RequestID: requestID, Signature: refreshSignature}
	if graced {
		rot.Grace = s.grace
	}
	if collected, err := consume(ctx, "", rot); collected {
		return err
	}
	if graced {
		return noteStorage(ctx, s.Storage.(RefreshTokenGraceStorage).RotateRefreshTokenWithGrace(ctx, requestID, refreshSignature, s.grace))
	}
	return noteStorage(ctx, s.Storage.RotateRefreshToken(ctx, requestID, refreshSignature))
}
