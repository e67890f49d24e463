package resourceserver

import (
	"slices"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// Scope hierarchy
//
// A required scope is satisfied by a granted scope that equals it or that is an ancestor
// of it in a ":"-separated hierarchy: granted "files" satisfies required "files:read" and
// "files:read:meta"; granted "files:read" does not satisfy "files", nor "files:write",
// and granted "file" does not satisfy "files:read" (whole components only). This is the
// scope-hierarchy rule MCP 2026-07-28 asks resource servers to honour; nothing else
// (wildcards, prefixes within a component) widens a grant.

// ScopeSatisfies reports whether the granted scope satisfies the required one under the
// hierarchy rule above.
func ScopeSatisfies(granted, required string) bool {
	if granted == "" || required == "" {
		return false
	}
	return granted == required || strings.HasPrefix(required, granted+":")
}

// MissingScopes returns the required scopes that no granted scope satisfies, in the order
// of required; nil when every one is satisfied.
func MissingScopes(granted, required []string) []string {
	var missing []string
	for _, r := range required {
		if !slices.ContainsFunc(granted, func(g string) bool { return ScopeSatisfies(g, r) }) {
			missing = append(missing, r)
		}
	}
	return missing
}

// unionScopes returns the scopes of every list, in order, without duplicates and without
// offline_access.
func unionScopes(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if s != "" && s != oauth.OfflineAccessScope && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
