// Package compat holds named shims for MCP clients that bend the OAuth and MCP
// specifications. Each field of Options tolerates one known client behaviour; its doc
// comment names the behaviour, the clients known to need it, the spec text it bends and
// its default. Default is what a public MCP server should run; Strict is the
// specification only. mcp.New applies the chosen Options (Options.Apply sets the
// switches of provider.Config; mcp.New those of registration.Options and the resources), and each shim can be switched off on its
// own once the clients that need it are fixed:
//
//	opts := compat.Default()
//	opts.LegacyEndpoints = false // no 2025-03-26 clients here
//	srv, err := mcp.New(ctx, mcp.Config{Compat: &opts, …})
//
// README.md in this directory has the table: shim, clients, spec text bent, default.
//
// Every shim is pinned by a test that replays the request the named client sends (built
// from that client's source, or from the documented shape in testdata/) over real HTTP
// through mcp.New on SQLite and PostgreSQL, passing with the shim on and failing the way
// the specification says with it off.
package compat

import "time"

// Options switches the compatibility shims on and off, one field per client behaviour.
// The zero value is Strict.
type Options struct {
	// DefaultScopes: an authorization request without `scope` (or with an empty one, or
	// one whose every scope FilterUnknownScopes dropped) is granted default scopes:
	//
	//  1. the DefaultScopes (resourceserver.Resource) of the resources the request is bound to that
	//     the client is registered for;
	//  2. if that leaves nothing (no DefaultScopes configured, or the client registered
	//     for none of them), the client's registered scopes that those resources define.
	//
	// Resource defaults come first because a client registered without a scope (Claude
	// Code and ChatGPT register none) is registered for every supported scope: granting
	// all of them would leave step-up authorization (403 insufficient_scope) nothing to
	// ask for. Set resourceserver.Resource.DefaultScopes to the least privilege that is useful.
	// offline_access is never granted by default.
	//
	// Clients: Claude Code, ChatGPT, mcp-go without configured scopes, TypeScript SDK
	// clients whose metadata has no scope.
	// Bends: nothing in RFC 6749 §3.3 ("the authorization server MUST either process the
	// request using a pre-defined default value or fail the request indicating an invalid
	// scope"); off, the server takes the second branch.
	// Default: on. Strict: off — a request without scope for a resource that has scopes is
	// refused with invalid_scope (a resource without scopes grants the empty set).
	DefaultScopes bool

	// FilterUnknownScopes: scopes the server does not know (`openid email profile` and
	// the like) are dropped from authorization requests and from registration requests
	// instead of failing them. In an authorization request, a scope that only a resource
	// other than the requested one defines counts as unknown (resourceserver.Resource.Scopes).
	// Clients: mcp-remote and other clients that send OpenID Connect scopes by default;
	// the go-sdk example client registers scope "read".
	// Bends: RFC 6749 §4.1.2.1 invalid_scope ("The requested scope is invalid, unknown,
	// or malformed") and RFC 7591 §2 (a server may replace requested metadata, so the
	// registration side is allowed; Strict still refuses there with
	// invalid_client_metadata).
	// Default: on. Strict: off.
	FilterUnknownScopes bool

	// DefaultResource: an authorization, code exchange or client credentials request
	// without `resource` is bound to the default resource: the only one of
	// mcp.Config.Resources, or mcp.Config.DefaultResource when there are several. With
	// several and none named, the request is refused with invalid_target (no token is
	// ever issued without an audience).
	// Clients: 2025-03-26 clients, the TypeScript SDK when it found no protected
	// resource metadata, clients that treat `resource` as optional (RFC 8707).
	// Bends: MCP 2025-06-18 §Resource Parameter Implementation ("MCP clients MUST
	// include the resource parameter in authorization requests and token requests").
	// Default: on. Strict: off — authorization and code exchange requests without
	// `resource` are refused with invalid_target (RFC 8707 §2), the latter before the
	// code is consumed.
	DefaultResource bool

	// RefreshWithoutResource: a refresh token request without `resource` keeps the
	// grant's whole audience instead of failing.
	// Clients: go-sdk (auth.AuthorizationCodeHandler refreshes through
	// golang.org/x/oauth2, which sends no `resource`).
	// Bends: MCP 2025-06-18 §Resource Parameter Implementation (MUST on token requests,
	// refresh included); RFC 8707 §2.2 itself allows omitting it.
	// Default: on. Strict: off — invalid_target, before the refresh token is rotated.
	RefreshWithoutResource bool

	// LenientResourceMatch: a `resource` that names a configured resource with or
	// without a trailing slash, or that is an origin or path prefix of exactly one
	// configured resource (by whole path segments), is mapped to it (see
	// resourceserver.Registry.Match); a different scheme, host or port never matches. Case of
	// scheme and host and an explicit default port are normalised in both modes
	// (RFC 3986 §6.2.2, not a shim).
	// Clients: the TypeScript SDK (it sends the `resource` of the protected resource
	// metadata, which may be the origin, as a URL whose serialisation adds a trailing
	// slash to a bare origin), mcp-go (it accepts a PRM resource that is a path prefix
	// of its server URL and sends it).
	// Bends: RFC 8707 §2 (the resource is an absolute URI the server compares; a prefix
	// names a different resource) and MCP's canonical server URI rule.
	// Default: on. Strict: off — anything but the canonical configured URL is
	// invalid_target.
	LenientResourceMatch bool

	// LocalhostAnyPort: an http redirect URI on "localhost" matches a registered one
	// whatever its port (scheme, host, path and query must match), as loopback IP
	// literals always do.
	// Clients: Claude Code (registers http://localhost/callback, returns on an ephemeral
	// port).
	// Bends: RFC 8252 §7.3 grants any port to loopback IP literals only, and §8.3 calls
	// "localhost" NOT RECOMMENDED; OAuth 2.1 requires exact redirect URI matching.
	// Default: on. Strict: off — the authorization endpoint shows an error page (never a
	// redirect to an unregistered URI).
	LocalhostAnyPort bool

	// DotlessClientSchemes: redirect URIs on the private-use schemes of known MCP clients
	// that are not reversed domain names — cursor, vscode, vscode-insiders, windsurf
	// (provider.KnownDotlessClientSchemes) — are accepted at registration, in client ID
	// metadata documents and at the authorization endpoint. Deny-listed schemes
	// (provider.DeniedRedirectScheme) stay refused, and errors are not redirected to
	// these URIs automatically (the error page links to them instead).
	// Clients: Cursor (registers cursor://anysphere.cursor-mcp/oauth/callback), VS Code
	// extensions such as Cline (vscode://…, and the editor's own scheme in VS Code
	// forks), Windsurf.
	// Bends: RFC 8252 §7.1 ("apps MUST use a URI scheme based on a domain name under
	// their control, expressed in reverse order").
	// Default: on. Strict: off — registration answers invalid_redirect_uri; schemes an
	// operator lists in provider.Config.RedirectURIRules stay accepted either way.
	DotlessClientSchemes bool

	// RefreshWithoutOfflineAccess: a client registered for the refresh_token grant gets a
	// refresh token without asking for offline_access. offline_access is never listed in
	// protected resource metadata or challenges either way (MCP 2026-07-28).
	// Clients: all MCP clients in practice (go-sdk, mcp-go, Claude Code, the TypeScript
	// SDK); only go-sdk with RequestRefreshToken asks for offline_access, and only when
	// the server advertises it.
	// Bends: OpenID Connect Core §11 and fosite's default (refresh tokens only for
	// offline_access); OAuth 2.1 leaves the decision to the server, so this is policy
	// more than bending.
	// Default: on. Strict: off — refresh tokens only for grants that include
	// offline_access, which the authorization server metadata then lists (and
	// registration accepts).
	RefreshWithoutOfflineAccess bool

	// OptionalState: an authorization request without `state`, or with a short one, is
	// accepted; PKCE (required) binds the code to the client.
	// Clients: TypeScript SDK clients whose OAuthClientProvider has no state() (the SDK
	// then sends none), and hand-written clients.
	// Bends: RFC 6749 §10.12 (CSRF protection through an unguessable binding value,
	// usually state) and fosite's 8-character minimum; OAuth 2.1 §7.5.1 accepts PKCE
	// instead.
	// Default: on. Strict: off — state is required with at least 8 characters
	// (invalid_request to the client's redirect URI).
	OptionalState bool

	// LenientRegistration: dynamic client registration fills in what minimal requests
	// leave out beyond the RFC 7591 defaults: a request without grant_types is registered
	// for authorization_code and refresh_token (so the client gets refresh tokens), and
	// one without client_name is named after its redirect URI's host. What RFC 7591
	// itself prescribes applies in both modes: unknown members are ignored (mcp-go sends
	// `resource`), missing response_types default to ["code"], a missing
	// token_endpoint_auth_method means a confidential client_secret_basic client.
	// It also covers client ID metadata documents (mcp.Config.ClientIDMetadataDocuments):
	// a document without grant_types gets authorization_code and refresh_token too
	// (cimd.Options.DefaultGrantTypes, unless set there), where RFC 7591's default would
	// leave the client without refresh tokens.
	// Clients: go-sdk clients with minimal DynamicClientRegistrationConfig metadata (the
	// go-sdk example sends only client_name, redirect_uris and scope), hand-written and
	// curl registrations, client ID metadata documents that omit grant_types.
	// Bends: RFC 7591 §2 ("If omitted, the default behavior is that the client will use
	// only the authorization_code Grant Type"), which the metadata document draft
	// (draft-ietf-oauth-client-id-metadata-document-00 §4.1) inherits.
	// Default: on. Strict: off (registrations and documents without grant_types get
	// authorization_code only).
	LenientRegistration bool

	// RefreshGrace: a rotated refresh token presented again within Window of its first
	// use, at most MaxReuses times, returns fresh tokens instead of revoking the grant;
	// outside the window, reuse revokes the whole grant (token family) as OAuth 2.1
	// requires. Within the window, uses beyond MaxReuses fail with invalid_grant without
	// revoking. Needs a storage implementing provider.RefreshTokenGraceStorage
	// (storage/gorm does); mcp.New refuses another storage unless Window is zero. See
	// provider.RefreshTokenGrace for the trade-off.
	// Clients: MCP hosts whose processes share one refresh token (several Claude Code
	// or IDE windows, mcp-remote instances) and refresh at the same moment.
	// Bends: OAuth 2.1 §4.3.1 and RFC 9700 §4.14.2 (a rotated refresh token is invalid;
	// presenting it again signals theft).
	// Default: 30 s, 2 reuses. Strict: zero (off).
	RefreshGrace RefreshGrace

	// LegacyEndpoints: when the issuer has a path (https://h/oauth) and shares its origin
	// with an MCP server, the authorization server metadata is also served at the
	// origin's root (/.well-known/oauth-authorization-server, the document unchanged:
	// its issuer stays the configured one) and the authorization, token and registration
	// endpoints also answer at /authorize, /token and /register. Without an issuer path
	// these are the real URLs already; with another origin, nothing can be done here.
	// Clients: 2025-03-26 clients (before protected resource metadata: they discover the
	// authorization server at the MCP server's origin and fall back to those default
	// paths), for instance the TypeScript SDK's fallback when it finds no protected
	// resource metadata.
	// Bends: RFC 8414 §3 (metadata at the well-known URL derived from the issuer, its
	// issuer identical to that URL's issuer) and MCP 2025-06-18, which replaced these
	// fallbacks with RFC 9728 discovery.
	// Default: on. Strict: off (404).
	LegacyEndpoints bool

	// TokenWithoutRedirectURI: an authorization code token request without
	// `redirect_uri` is accepted when the code was issued for the client's only
	// registered redirect URI; PKCE binds the code.
	// Clients: OAuth 2.1 clients (draft §10.2 removed the parameter from the token
	// request), the TypeScript SDK (and the MCP Inspector built on it) until March 2025
	// (modelcontextprotocol/typescript-sdk#222).
	// Bends: RFC 6749 §4.1.3 (redirect_uri REQUIRED if it was in the authorization
	// request).
	// Default: on. Strict: off — invalid_grant.
	TokenWithoutRedirectURI bool
}

// RefreshGrace is the concurrent refresh grace window (Options.RefreshGrace). The zero
// value is off.
type RefreshGrace struct {
	// Window is how long after its first use a rotated refresh token may be used again.
	Window time.Duration
	// MaxReuses is how many times it may be used again within Window. Zero means
	// DefaultRefreshGraceMaxReuses when Window is set.
	MaxReuses int
}

// Defaults of Options.RefreshGrace in Default.
const (
	DefaultRefreshGraceWindow    = 30 * time.Second
	DefaultRefreshGraceMaxReuses = 2
)

// Default returns the shims a public MCP server should run: every shim real clients need.
func Default() Options {
	return Options{
		DefaultScopes:               true,
		FilterUnknownScopes:         true,
		DefaultResource:             true,
		RefreshWithoutResource:      true,
		LenientResourceMatch:        true,
		LocalhostAnyPort:            true,
		DotlessClientSchemes:        true,
		RefreshWithoutOfflineAccess: true,
		OptionalState:               true,
		LenientRegistration:         true,
		RefreshGrace:                RefreshGrace{Window: DefaultRefreshGraceWindow, MaxReuses: DefaultRefreshGraceMaxReuses},
		LegacyEndpoints:             true,
		TokenWithoutRedirectURI:     true,
	}
}

// Strict returns the specifications only: no shim.
func Strict() Options { return Options{} }
