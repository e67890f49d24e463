package resourceserver

import (
	"context"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// AccessTokenVerifier verifies access tokens; *provider.Provider implements it.
//
// VerifyAccessToken must accept access tokens only (never a refresh token or a code) and
// return an error wrapping [oauth.ErrInvalidToken] for every token it does not accept
// (unknown, malformed, expired, revoked). An error wrapping [oauth.ErrStorageUnavailable]
// means it could not tell (503, retry); any other error is treated as a server failure.
type AccessTokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*oauth.AccessToken, error)
}

// AccessTokenVerifierFunc adapts a function to [AccessTokenVerifier].
type AccessTokenVerifierFunc func(ctx context.Context, token string) (*oauth.AccessToken, error)

// VerifyAccessToken implements [AccessTokenVerifier].
func (f AccessTokenVerifierFunc) VerifyAccessToken(ctx context.Context, token string) (*oauth.AccessToken, error) {
	return f(ctx, token)
}
