package oauth

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
// provider.Config.RefreshTokenScopes is usually set to it. MCP (2026-07-28)
// says it must not appear in protected resource metadata or challenges.
const OfflineAccessScope = "offline_access"
