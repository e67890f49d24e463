package oauth

import (
	"strings"
	"unicode/utf8"
)

// OAuth error codes as strings, for the JSON bodies and WWW-Authenticate challenges this
// module writes outside fosite (bearer middleware, registration, rate limiting). They are
// the one set of these strings in the module; the Err… values of package provider are
// fosite errors carrying the same codes for the endpoints fosite answers.
const (
	// ErrorCodeInvalidRequest (RFC 6749 §5.2, RFC 6750 §3.1): the request is malformed,
	// e.g. a bearer token sent in the query.
	ErrorCodeInvalidRequest = "invalid_request"
	// ErrorCodeInvalidToken (RFC 6750 §3.1): the access token (or the registration or
	// initial access token) is unknown, malformed, expired, revoked or for another
	// resource.
	ErrorCodeInvalidToken = "invalid_token"
	// ErrorCodeInsufficientScope (RFC 6750 §3.1): the token lacks scopes the operation
	// needs; answered with HTTP 403.
	ErrorCodeInsufficientScope = "insufficient_scope"
	// ErrorCodeInvalidRedirectURI (RFC 7591 §3.2.2): a registered redirect URI is not
	// acceptable.
	ErrorCodeInvalidRedirectURI = "invalid_redirect_uri"
	// ErrorCodeInvalidClientMetadata (RFC 7591 §3.2.2): a client metadata value is not
	// acceptable.
	ErrorCodeInvalidClientMetadata = "invalid_client_metadata"
	// ErrorCodeServerError (RFC 6749 §4.1.2.1): the server failed; nothing the client
	// can fix.
	ErrorCodeServerError = "server_error"
	// ErrorCodeTemporarilyUnavailable (RFC 6749 §4.1.2.1): the server cannot answer now,
	// e.g. the client was rate-limited (HTTP 429 with Retry-After) or storage is down.
	// RFC 6749 registers it for the authorization endpoint only and defines no code for
	// throttling elsewhere; clients act on the status and Retry-After.
	ErrorCodeTemporarilyUnavailable = "temporarily_unavailable"
	// ErrorCodeUnauthorized is not an RFC code: the JSON body's error when a request
	// carries no access token at all. RFC 6750 §3.1 wants no error code in the
	// challenge then, but an error body (RFC 6749 §5.2 form) still needs one.
	ErrorCodeUnauthorized = "unauthorized"
)

// ErrorDescription returns description as an error_description may carry it: RFC 6749
// §5.2 and §4.1.2.1 (and RFC 6750 §3, RFC 7591 §3.2.2) allow only printable ASCII
// without '"' and '\' (%x20-21 / %x23-5B / %x5D-7E). A double quote becomes a single
// one, anything else outside the set (a backslash, a control character, a non-ASCII
// character a client sent and the description quotes back) a question mark.
func ErrorDescription(description string) string {
	clean := true
	for i := 0; i < len(description); i++ {
		if !descriptionByte(description[i]) {
			clean = false
			break
		}
	}
	if clean {
		return description
	}
	var b strings.Builder
	b.Grow(len(description))
	for _, r := range description {
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r < utf8.RuneSelf && descriptionByte(byte(r)):
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// descriptionByte reports whether c may appear in an error_description.
func descriptionByte(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}
