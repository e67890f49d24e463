// Package gosdk connects the Go MCP SDK (github.com/modelcontextprotocol/go-sdk) servers
// to this authorization server.
//
// There are two ways to guard a go-sdk StreamableHTTPHandler:
//
//   - [RequireBearer] (recommended): this module's bearer middleware in front of go-sdk's
//     auth.RequireBearerToken. Clients get spec-complete challenges, including 403
//     error="insufficient_scope" for step-up authorization, and the go-sdk still receives
//     its auth.TokenInfo (session pinning to the user, req.Extra.TokenInfo in tool
//     handlers). The token is verified once.
//   - go-sdk's own auth.RequireBearerToken with [TokenVerifier] and
//     [RequireBearerTokenOptions]. Note that go-sdk's middleware answers a missing scope
//     with a bare 403 and a challenge without error="insufficient_scope", so MCP clients
//     (go-sdk's own client included) will not step up; use RequireBearer when scopes vary.
//     It also answers a storage outage with 500 where RequireBearer answers 503 with
//     Retry-After (a verifier cannot choose go-sdk's status).
//
// [RequireBearer] and [Protect] also bound the sessions behind them (package
// mcp/sessions, [WithSessions]): per user and in total, idle, closed when their grant is
// revoked, with capped request bodies; go-sdk keeps every session and its initialize
// payload in memory otherwise, for as long as its SessionTimeout (by default forever).
//
// In tool handlers, [AccessToken] recovers the verified identity from
// req.Extra.TokenInfo. Do not use resourceserver.TokenFromContext there: go-sdk hands every handler
// of a session the context of the HTTP request that created the session, so a token
// found there would be the session's first one, not the current request's (stale after
// a refresh, a step-up or a new login). [RequireBearer] therefore removes it from the
// context it passes on, and resourceserver.TokenFromContext finds nothing behind it.
package gosdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/fosite-mcp/fosite-mcp/mcp/internal/adapter"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// accessTokenKey is the auth.TokenInfo.Extra key holding the *oauth.AccessToken.
const accessTokenKey = "fosite-mcp/access-token"

// TokenVerifier returns a go-sdk auth.TokenVerifier for the resource with URL resource: it
// verifies the token with v (access tokens only), checks that its audience names the
// resource, and returns the TokenInfo the go-sdk needs: Scopes, Expiration and UserID
// (the subject; the client ID for tokens without a subject, such as client credentials).
// Every refusal wraps auth.ErrInvalidToken (go-sdk answers 401); a verifier failure such
// as a storage error does not (go-sdk answers 500).
func TokenVerifier(v resourceserver.AccessTokenVerifier, resource string) auth.TokenVerifier {
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		at, err := v.VerifyAccessToken(ctx, token)
		if err != nil {
			if errors.Is(err, oauth.ErrInvalidToken) {
				return nil, fmt.Errorf("%w: the access token is invalid, expired or revoked", auth.ErrInvalidToken)
			}
			return nil, fmt.Errorf("gosdk: verifying access token: %w", err)
		}
		if !audienceNames(at, resource) {
			return nil, fmt.Errorf("%w: the access token is not valid for this resource", auth.ErrInvalidToken)
		}
		return tokenInfo(at), nil
	}
}

func audienceNames(at *oauth.AccessToken, resource string) bool {
	for _, a := range at.Audience {
		if resourceserver.SameResource(a, resource) {
			return true
		}
	}
	return false
}

// tokenInfo converts a verified token to go-sdk's TokenInfo.
func tokenInfo(at *oauth.AccessToken) *auth.TokenInfo {
	user := at.Subject
	if user == "" {
		user = at.ClientID
	}
	return &auth.TokenInfo{
		Scopes:     append([]string(nil), at.Scopes...),
		Expiration: at.ExpiresAt,
		UserID:     user,
		Extra:      map[string]any{accessTokenKey: at},
	}
}

// AccessToken returns the verified token behind a go-sdk TokenInfo made by this package
// (in tool handlers: req.Extra.TokenInfo): subject, client ID, scopes, audience, expiry.
func AccessToken(ti *auth.TokenInfo) (*oauth.AccessToken, bool) {
	if ti == nil {
		return nil, false
	}
	at, ok := ti.Extra[accessTokenKey].(*oauth.AccessToken)
	return at, ok && at != nil
}

// ProtectedResourceMetadata returns r's RFC 9728 metadata as go-sdk's type, for
// auth.ProtectedResourceMetadataHandler (mount it at resourceserver.MetadataPath(r.URL)). Prefer
// resourceserver.NewMetadataHandler, which also serves HEAD and sets caching headers.
func ProtectedResourceMetadata(r resourceserver.Resource, issuer string) *oauthex.ProtectedResourceMetadata {
	m := r.Metadata(issuer)
	return &oauthex.ProtectedResourceMetadata{
		Resource:               m.Resource,
		AuthorizationServers:   m.AuthorizationServers,
		ScopesSupported:        m.ScopesSupported,
		BearerMethodsSupported: m.BearerMethodsSupported,
		ResourceName:           m.ResourceName,
		ResourceDocumentation:  m.ResourceDocumentation,
	}
}

// RequireBearerTokenOptions returns options for go-sdk's auth.RequireBearerToken that
// advertise r's metadata URL and require scopes. It fails only when r.URL is invalid.
func RequireBearerTokenOptions(r resourceserver.Resource, scopes ...string) (*auth.RequireBearerTokenOptions, error) {
	u, err := resourceserver.MetadataURL(r.URL)
	if err != nil {
		return nil, err
	}
	return &auth.RequireBearerTokenOptions{ResourceMetadataURL: u, Scopes: scopes}, nil
}

// Option configures [RequireBearer] and [Protect].
type Option func(*adapter.Options)

// WithSessions sets the bounds on the go-sdk sessions behind the middleware: per user
// and in total, idle timeout, revalidation of idle sessions' tokens, request body cap
// ([sessions.Options] documents each and its default; nil means the defaults).
func WithSessions(o *sessions.Options) Option {
	return func(opts *adapter.Options) { opts.Sessions = o }
}

// RequireBearer returns middleware for a go-sdk StreamableHTTPHandler: [resourceserver.Bearer] with
// opts (all of its checks and challenges, step-up included), then go-sdk's
// auth.RequireBearerToken fed from the token already verified, so that the go-sdk pins
// sessions to the user and passes auth.TokenInfo to tool handlers (read it with
// [AccessToken]). The handler behind it finds no token with resourceserver.TokenFromContext: go-sdk
// would keep the one of the session's first request in the context of every later
// request of the session (see the package documentation).
//
// Each handler wrapped also gets a [sessions.Guard]: bounded sessions per user and in
// total, an idle timeout, sessions of revoked grants closed, a request body cap
// ([WithSessions] sets them).
func RequireBearer(v resourceserver.AccessTokenVerifier, opts resourceserver.BearerOptions, with ...Option) (func(http.Handler) http.Handler, error) {
	b, err := resourceserver.NewBearer(v, opts)
	if err != nil {
		return nil, err
	}
	return wrap(b, v, with)
}

// Server is what [Protect] needs of an authorization server in the same process: its
// bearer middleware with the server's defaults, and its verifier. *mcp.Server implements
// it; an interface, so that this package does not import mcp and a resource server in
// another process links only the resource-server side (see [RequireBearer]).
type Server interface {
	// AccessTokenVerifier verifies the tokens behind the MCP sessions (sessions.Guard).
	resourceserver.AccessTokenVerifier
	// Bearer returns the server's bearer middleware for opts, with its defaults filled in.
	Bearer(opts resourceserver.BearerOptions) (*resourceserver.Bearer, error)
}

// Protect is RequireBearer for a resource of an mcp.Server, with the server's defaults
// for opts (see mcp.Server.Bearer: the challenge advertises the resource's scopes).
// Use it rather than mcp.Server.Protect in front of a go-sdk StreamableHTTPHandler:
//
//	protect, err := gosdk.Protect(auth, resourceserver.BearerOptions{Resource: "https://example.com/mcp"})
//	mux.Handle("/mcp", protect(sdkmcp.NewStreamableHTTPHandler(getServer, nil)))
func Protect(s Server, opts resourceserver.BearerOptions, with ...Option) (func(http.Handler) http.Handler, error) {
	b, err := s.Bearer(opts)
	if err != nil {
		return nil, err
	}
	return wrap(b, s, with)
}

// wrap puts b in front of a sessions.Guard and go-sdk's auth.RequireBearerToken, fed
// from the token b verified.
func wrap(b *resourceserver.Bearer, v resourceserver.AccessTokenVerifier, with []Option) (func(http.Handler) http.Handler, error) {
	_, g, err := adapter.Guard(v, with)
	if err != nil {
		return nil, err
	}
	// The outer middleware verified the same Authorization header of the same request, so
	// the inner one takes its result from the context instead of verifying again.
	fromContext := func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		at, ok := resourceserver.TokenFromContext(r.Context())
		if !ok {
			return nil, fmt.Errorf("%w: no verified token", auth.ErrInvalidToken)
		}
		return tokenInfo(at), nil
	}
	inner := auth.RequireBearerToken(fromContext, nil)
	// The Guard closes a session with a DELETE from its owner; the owner's token may have
	// expired by then (idle sessions), which go-sdk's middleware would refuse, so those
	// requests get a TokenInfo that is only the owner's identity.
	owner := auth.RequireBearerToken(func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		at, ok := resourceserver.TokenFromContext(r.Context())
		if !ok {
			return nil, fmt.Errorf("%w: no session owner", auth.ErrInvalidToken)
		}
		ti := tokenInfo(at)
		ti.Expiration = time.Now().Add(time.Minute)
		return ti, nil
	}, nil)
	return func(next http.Handler) http.Handler {
		// go-sdk derives the context of every handler of a session from the request that
		// created it; drop the token so that it cannot outlive that request there.
		forget := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(resourceserver.ContextWithToken(r.Context(), nil)))
		})
		closeAsOwner := owner(forget)
		closer := func(ctx context.Context, id string, at *oauth.AccessToken) {
			r := sessions.DeleteRequest(ctx, id, at)
			r.Header.Set("Authorization", "Bearer session-owner")
			closeAsOwner.ServeHTTP(&sessions.DiscardResponse{}, r)
		}
		return g.LimitBody(b.Wrap(g.Wrap(inner(forget), closer)))
	}, nil
}
