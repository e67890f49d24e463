package resourceserver

import (
	"strings"

	"github.com/fosite-mcp/fosite-mcp/mcp/internal/quote"
)

// Challenge is an RFC 6750 §3 Bearer challenge as MCP uses it: the value of a
// WWW-Authenticate header.
type Challenge struct {
	// Error is the RFC 6750 §3.1 error code; empty when the request carried no token.
	Error string
	// ErrorDescription is a human-readable explanation for developers. It never contains
	// a token.
	ErrorDescription string
	// ResourceMetadata is the URL of the protected resource metadata (RFC 9728 §5.1).
	ResourceMetadata string
	// Scope lists the scopes the operation needs; offline_access is never included.
	Scope []string
}

// String renders the challenge as a WWW-Authenticate value, e.g.
//
//	Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"
//
// Parameters that are empty (after sanitising) are left out (a bare "Bearer" when all are empty); values are
// quoted-strings (RFC 9110 §5.6.4) with '"' and '\' escaped and control characters
// dropped, so no value can break out of its parameter or the header.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(name, value string) {
		q := quote.String(value)
		if q == `""` {
			return // an empty value breaks some clients' parsers (go-sdk's among them)
		}
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(q)
		sep = ", "
	}
	param("error", c.Error)
	param("scope", strings.Join(withoutOfflineAccess(c.Scope), " "))
	param("resource_metadata", c.ResourceMetadata)
	param("error_description", c.ErrorDescription)
	return b.String()
}
