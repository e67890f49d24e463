package oauth

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
