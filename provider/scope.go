package provider

import (
	"slices"
	"strings"
)

// ParseScope splits an RFC 6749 §3.3 scope string (space-delimited) into its scope
// tokens, dropping empty ones and duplicates. Validity of each token is checked by
// ValidScopeToken.
func ParseScope(scope string) []string {
	var out []string
	for _, s := range strings.Split(scope, " ") {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
