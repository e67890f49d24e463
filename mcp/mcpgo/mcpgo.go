// Package mcpgo connects mark3labs/mcp-go servers to this authorization server.
//
// mcp-go has no bearer-token middleware of its own. Guard its StreamableHTTPServer (or SSE
// server) with [RequireBearer]; mcp-go derives the context its tool handlers receive from
// the HTTP request's context (StreamableHTTPServer.handlePost builds it from the request
// context before any HTTPContextFunc runs), so tools find the verified identity with
// [AccessToken] — no context function is needed.
//
// RequireBearer never hands a request to the mcp-go handler without a verified token: the
// StreamableHTTPServer ignores the request path, so anything it receives, whatever the
// URL, is processed as an MCP message. Serve the RFC 9728 protected resource metadata
// beside it, not through it: mount resourceserver.NewMetadataHandler (or mcp.Server's
// ProtectedResourceMetadata) on the mux, or pass [WithMetadata] so that the middleware
// answers the metadata requests itself. Do not rely on mcp-go's
// server.WithProtectedResourceMetadata behind RequireBearer: its metadata requests come
// without a token and are refused with 401.
package mcpgo

import (
	"context"
	"fmt"
	"net/http"

	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/mcp/internal/adapter"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// ProtectedResourceMetadata returns r's RFC 9728 metadata as mcp-go's configuration, for
// server.NewProtectedResourceMetadataHandler mounted on the mux beside the MCP handler
// (not for server.WithProtectedResourceMetadata behind [RequireBearer], see the package
// documentation). mcp-go sends it with Cache-Control: no-store; resourceserver.NewMetadataHandler
// is the alternative with caching and HEAD.
func ProtectedResourceMetadata(r resourceserver.Resource, issuer string) server.ProtectedResourceMetadataConfig {
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

// Option configures [RequireBearer].
type Option func(*adapter.Options)

// WithSessions sets the [sessions.Options] of the mcp-go sessions behind the middleware
// (sessions per user and in total, idle timeout, token revalidation, body cap); nil,
// like no WithSessions, means their defaults.
func WithSessions(o *sessions.Options) Option {
	return func(opts *adapter.Options) { opts.Sessions = o }
}

// WithMetadata makes the middleware serve r's RFC 9728 protected resource metadata, naming
// issuer as the authorization server, without a token: GET, HEAD and OPTIONS requests
// for exactly resourceserver.MetadataPath(r.URL) are answered by resourceserver.NewMetadataHandler and never
// reach the mcp-go handler. r must be the guarded resource (BearerOptions.Resource).
// Use it when the guarded handler is the whole server (http.Server.Handler); with a mux,
// mounting resourceserver.NewMetadataHandler on it does the same.
func WithMetadata(r resourceserver.Resource, issuer string) Option {
	return func(o *adapter.Options) {
		o.Metadata = &r
		o.Issuer = issuer
	}
}

// RequireBearer returns [resourceserver.Bearer] middleware with opts for an mcp-go server handler:
// every request needs a valid token, with MCP's challenges and step-up (see resourceserver.Bearer and
// resourceserver.ToolScopes). The only requests answered without one are the metadata requests of
// [WithMetadata], which the middleware answers itself, and CORS preflights, which
// resourceserver.Bearer answers itself; neither reaches the handler.
//
// Each request then passes a [sessions.Guard], which pins every session to the user whose
// token created it (mcp-go itself does not: another user's token with a known
// Mcp-Session-Id gets 403, an unknown session ID 404), bounds sessions per user and in
// total, closes idle sessions and those of revoked grants, and caps request bodies
// ([WithSessions] sets the bounds). mcp-go's sessions are closed with a DELETE through
// the handler, which ends them with any session ID manager.
func RequireBearer(v resourceserver.AccessTokenVerifier, opts resourceserver.BearerOptions, with ...Option) (func(http.Handler) http.Handler, error) {
	b, err := resourceserver.NewBearer(v, opts)
	if err != nil {
		return nil, err
	}
	o, g, err := adapter.Guard(v, with)
	if err != nil {
		return nil, err
	}
	var metaPath string
	var meta http.Handler
	if o.Metadata != nil {
		if !resourceserver.SameResource(o.Metadata.URL, opts.Resource) {
			return nil, fmt.Errorf("mcpgo: metadata resource %q is not the guarded resource %q", o.Metadata.URL, opts.Resource)
		}
		reg, err := resourceserver.NewRegistry(*o.Metadata)
		if err != nil {
			return nil, err
		}
		if meta, err = resourceserver.NewMetadataHandler(o.Issuer, reg, nil); err != nil {
			return nil, err
		}
		if metaPath, err = resourceserver.MetadataPath(o.Metadata.URL); err != nil {
			return nil, err
		}
	}
	return func(next http.Handler) http.Handler {
		guarded := g.LimitBody(b.Wrap(g.Wrap(next, nil)))
		if meta == nil {
			return guarded
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.EscapedPath() == metaPath {
				switch r.Method {
				case http.MethodGet, http.MethodHead, http.MethodOptions:
					meta.ServeHTTP(w, r)
					return
				}
			}
			guarded.ServeHTTP(w, r)
		})
	}, nil
}

// AccessToken returns the verified token in a tool handler's context: subject, client ID,
// scopes, audience and expiry. It is [resourceserver.TokenFromContext].
func AccessToken(ctx context.Context) (*oauth.AccessToken, bool) {
	return resourceserver.TokenFromContext(ctx)
}
