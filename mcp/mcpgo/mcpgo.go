// Package mcpgo connects mark3labs/mcp-go servers to this authorization server.
//
// mcp-go has no bearer-token middleware of its own. Guard its StreamableHTTPServer (or SSE
// server) with [RequireBearer]; mcp-go derives the context its tool handlers receive from
// the HTTP request's context (StreamableHTTPServer.handlePost builds it from the request
// context before any HTTPContextFunc runs), so tools find the verified identity with
// [AccessToken] — no context function is needed. When mcp-go serves the protected
// resource metadata itself (server.WithProtectedResourceMetadata with
// [ProtectedResourceMetadata]), RequireBearer lets those requests through unauthenticated.
package mcpgo

import (
	"context"
	"net/http"
	"strings"

	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// ProtectedResourceMetadata returns r's RFC 9728 metadata as mcp-go's configuration, for
// server.WithProtectedResourceMetadata or server.NewProtectedResourceMetadataHandler.
// mcp-go sends it with Cache-Control: no-store; mcp.NewMetadataHandler is the alternative
// with caching and HEAD.
func ProtectedResourceMetadata(r mcp.Resource, issuer string) server.ProtectedResourceMetadataConfig {
	m := r.Metadata(issuer)
	return server.ProtectedResourceMetadataConfig{
		Resource:               m.Resource,
		AuthorizationServers:   m.AuthorizationServers,
		ScopesSupported:        m.ScopesSupported,
		BearerMethodsSupported: m.BearerMethodsSupported,
		ResourceName:           m.ResourceName,
		ResourceDocumentation:  m.ResourceDocumentation,
	}
}

// RequireBearer returns [mcp.Bearer] middleware with opts for an mcp-go server handler.
// Requests for protected resource metadata (paths under mcp.WellKnownPath, which mcp-go
// serves from the same handler) pass through unauthenticated; everything else needs a
// valid token, with MCP's challenges and step-up (see mcp.Bearer and mcp.ToolScopes).
func RequireBearer(v mcp.AccessTokenVerifier, opts mcp.BearerOptions) (func(http.Handler) http.Handler, error) {
	b, err := mcp.NewBearer(v, opts)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		guarded := b.Wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := r.URL.Path; p == mcp.WellKnownPath || strings.HasPrefix(p, mcp.WellKnownPath+"/") {
				next.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}, nil
}

// AccessToken returns the verified token in a tool handler's context: subject, client ID,
// scopes, audience and expiry. It is [mcp.TokenFromContext].
func AccessToken(ctx context.Context) (*provider.AccessToken, bool) {
	return mcp.TokenFromContext(ctx)
}
