// Package compat holds named shims for MCP clients that bend the OAuth and MCP
// specifications. Each field of Options tolerates one known client behaviour; its doc
// comment names the behaviour, the clients known to need it, the spec text it bends and
// its default. Default is what a public MCP server should run; Strict is the
// specification only. The mcp package applies the chosen Options.
package compat

// Options switches the compatibility shims on and off, one field per client behaviour.
// The zero value is Strict.
type Options struct {
	// DefaultScopes: an authorization request without `scope` (or with an empty one) is
	// granted the client's registered scopes, else the resource's default scopes.
	// Clients: Claude Code, ChatGPT, mcp-go without configured scopes.
	// Bends: RFC 6749 §3.3 lets the server apply a default, so this is spec-compatible,
	// but Strict leaves the request without scope.
	// Default: on. Strict: off.
	DefaultScopes bool

	// FilterUnknownScopes: scopes the server does not know (e.g. `openid email profile`)
	// are dropped instead of failing the request with invalid_scope.
	// Clients: mcp-remote and others send `openid email profile` by default.
	// Bends: RFC 6749 §4.1.2.1 invalid_scope ("unknown … scope").
	// Default: on. Strict: off.
	FilterUnknownScopes bool

	// DefaultResource: an authorization or token request without `resource` is bound to
	// the configured default resource (the single one, or the one named as default).
	// Clients: 2025-03-26 clients, clients that found no protected resource metadata.
	// Bends: MCP 2025-06-18 §Resource Parameter Implementation ("MUST include the
	// resource parameter").
	// Default: on. Strict: off (the request is refused with invalid_target).
	DefaultResource bool
}

// Default returns the shims a public MCP server should run: every shim real clients need.
func Default() Options {
	return Options{
		DefaultScopes:       true,
		FilterUnknownScopes: true,
		DefaultResource:     true,
	}
}

// Strict returns the specification only: no shim.
func Strict() Options { return Options{} }
