// Package adapter holds the option plumbing that the MCP SDK adapters (mcp/gosdk,
// mcp/mcpgo) share, so that each defines only its own public Option type and the
// options particular to its SDK.
package adapter

import (
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
)

// Options are the settings an adapter's Option values set.
type Options struct {
	// Sessions bounds the MCP sessions behind the middleware (nil: sessions' defaults).
	Sessions *sessions.Options
	// Metadata, when set, is the resource whose RFC 9728 metadata the middleware serves
	// itself (mcpgo.WithMetadata).
	Metadata *resourceserver.Resource
	// Issuer is the authorization server the served metadata names.
	Issuer string
}

// Guard applies with (nil entries skipped) and returns the Options they set with the
// sessions.Guard for v that Options.Sessions asks for: the first step of every
// adapter's middleware.
func Guard[F ~func(*Options)](v resourceserver.AccessTokenVerifier, with []F) (Options, *sessions.Guard, error) {
	var o Options
	for _, f := range with {
		if f != nil {
			f(&o)
		}
	}
	g, err := sessions.New(v, o.Sessions)
	return o, g, err
}
