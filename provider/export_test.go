package provider

import (
	"context"
	"strings"

	"github.com/ory/fosite/handler/oauth2"
)

// FositeHMAC returns fosite's own HMAC strategy under p's secret: codes and tokens as p
// issued them before orderedHMAC (keys of 32 random bytes, signatures the HMAC alone),
// for tests of an upgrade.
func FositeHMAC(p *Provider) oauth2.CoreStrategy {
	return p.strategy.RefreshTokenStrategy.(*orderedHMAC).HMACSHAStrategy
}

// StorageSignature is the signature p's strategy stores token under (a code, an opaque
// access token or a refresh token, by its prefix), for tests that look into storage.
func StorageSignature(p *Provider, token string) string {
	ctx := context.Background()
	switch {
	case strings.HasPrefix(token, authorizeCodePrefix):
		return p.strategy.AuthorizeCodeSignature(ctx, token)
	case strings.HasPrefix(token, refreshTokenPrefix):
		return p.strategy.RefreshTokenSignature(ctx, token)
	default:
		return p.strategy.AccessTokenSignature(ctx, token)
	}
}
