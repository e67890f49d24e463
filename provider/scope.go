package provider

import (
	"strings"

	"github.com/fosite-mcp/fosite-mcp/internal/lists"
)

// ParseScope splits an RFC 6749 §3.3 scope string (space-delimited) into its scope
// tokens, dropping empty ones and duplicates; nil when there are none. Validity of each token is checked by
// ValidScopeToken.
func ParseScope(scope string) []string {
	if out := lists.Dedupe(strings.Split(scope, " ")); len(out) > 0 {
		return out
	}
	return nil
}
