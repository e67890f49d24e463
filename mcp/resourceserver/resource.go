package resourceserver

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// Resource is a protected resource (RFC 8707): an MCP endpoint the authorization server
// issues tokens for.
type Resource struct {
	// URL is the resource identifier: the URL clients use for the MCP endpoint, such as
	// https://mcp.example.com/mcp. Protected resource metadata returns it byte for byte
	// (clients compare it with the URL they called); lookups and audience checks use its
	// canonical form (see [oauth.CanonicalResource]). Required.
	URL string
	// Name is the human-readable resource_name shown to users. Recommended.
	Name string
	// Scopes are the scopes this resource understands (scopes_supported). Keep the list
	// minimal; offline_access is never published even when listed here. A token bound to
	// this resource is granted only these scopes, offline_access and the scopes of
	// provider.Config.Scopes set in mcp.Config.Provider (scopes not tied to a resource): a
	// scope only another resource defines is dropped (compat.Options.FilterUnknownScopes)
	// or refused with invalid_scope. Scopes may be shared by several resources; a scope
	// that is a hierarchy ancestor (see ScopeSatisfies) of another resource's scope is
	// allowed but logged by mcp.New, since a token bound to both resources would satisfy the
	// descendant with it.
	Scopes []string
	// DefaultScopes are granted when a client asks for no scope (Claude Code, ChatGPT and
	// mcp-go without configured scopes do); each must be in Scopes. Empty means none.
	DefaultScopes []string
	// Documentation is the resource_documentation URL for developers. Optional.
	Documentation string
}

// CanonicalURL returns the canonical form of r.URL, the form tokens carry as audience.
func (r Resource) CanonicalURL() (string, error) {
	return oauth.CanonicalResource(r.URL)
}

// Validate reports whether r is usable: an absolute http(s) URL without fragment, valid
// and unique scope tokens, and default scopes drawn from Scopes.
func (r Resource) Validate() error {
	canon, err := r.CanonicalURL()
	if err != nil {
		return fmt.Errorf("resource %q: %w", r.URL, err)
	}
	if !strings.HasPrefix(canon, "https://") && !strings.HasPrefix(canon, "http://") {
		return fmt.Errorf("resource %q: scheme must be https or http", r.URL)
	}
	for i, s := range r.Scopes {
		if !oauth.ValidScopeToken(s) {
			return fmt.Errorf("resource %q: scope %q is not a valid scope token (RFC 6749 §3.3)", r.URL, s)
		}
		if slices.Contains(r.Scopes[:i], s) {
			return fmt.Errorf("resource %q: scope %q listed twice", r.URL, s)
		}
	}
	for _, s := range r.DefaultScopes {
		if !slices.Contains(r.Scopes, s) {
			return fmt.Errorf("resource %q: default scope %q is not in Scopes", r.URL, s)
		}
	}
	if r.Documentation != "" && !isHTTPURL(r.Documentation) {
		return errors.New("resource " + r.URL + ": documentation must be an http(s) URL")
	}
	return nil
}

// PublishedScopes returns the scopes to advertise (scopes_supported): Scopes without
// offline_access, which MCP (2026-07-28) says must not appear in protected resource
// metadata or challenges. It never returns nil.
func (r Resource) PublishedScopes() []string {
	return withoutOfflineAccess(r.Scopes)
}

func withoutOfflineAccess(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != oauth.OfflineAccessScope {
			out = append(out, s)
		}
	}
	return out
}
