package resourceserver

import (
	"context"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

type tokenKey struct{}

// TokenFromContext returns the access token [Bearer] verified for this request:
// subject, client ID, granted scopes, audience and expiry. It never holds the token
// string. Treat the result as read-only.
func TokenFromContext(ctx context.Context) (*oauth.AccessToken, bool) {
	t, ok := ctx.Value(tokenKey{}).(*oauth.AccessToken)
	return t, ok && t != nil
}

// ContextWithToken returns ctx carrying t for [TokenFromContext]. The middleware calls it;
// SDK adapters use it to carry the identity into contexts they build themselves.
func ContextWithToken(ctx context.Context, t *oauth.AccessToken) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// guardKey carries the guarding middleware's settings, so that [RequireScopes] deeper in
// the handler chain can answer with the same challenge.
type guardKey struct{}

type guard struct {
	b        *Bearer
	required []string // scopes the outer middleware already required (and checked)
	// probe is the observed middleware's probe (nil when not observed): a step-up
	// refusal deeper in the chain ([RequireScopes]) marks it, so that the check is
	// reported as insufficient_scope rather than ok.
	probe *bearerProbe
}

func contextWithGuard(ctx context.Context, g *guard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

// bearerContext is what Bearer hands down a request it let through: the verified token
// (for TokenFromContext) and the guard (for RequireScopes), one allocation where two
// context.WithValue calls and the guard took three.
type bearerContext struct {
	context.Context
	tok   *oauth.AccessToken
	guard guard
}

// Value answers tokenKey and guardKey itself and asks the parent for anything else.
func (c *bearerContext) Value(key any) any {
	switch key.(type) {
	case tokenKey:
		return c.tok
	case guardKey:
		return &c.guard
	}
	return c.Context.Value(key)
}

func guardFromContext(ctx context.Context) (*guard, bool) {
	g, ok := ctx.Value(guardKey{}).(*guard)
	return g, ok && g != nil
}
