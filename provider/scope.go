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

// ValidScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ), that is printable ASCII without space, '"' and '\'.
func ValidScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// OfflineAccessScope is the OIDC scope that, by convention, asks for a refresh token;
// Config.RefreshTokenScopes is usually set to it.
const OfflineAccessScope = "offline_access"
