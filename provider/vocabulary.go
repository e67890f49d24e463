package provider

import "github.com/fosite-mcp/fosite-mcp/provider/oauth"

// The names below are defined in package oauth, which resource servers import without
// this package (and fosite); they are re-exported here so that the authorization
// server's callers need one import.

// AccessToken is what a verified access token says: the identity and grant behind it
// ([oauth.AccessToken]).
type AccessToken = oauth.AccessToken

// ErrInvalidToken is wrapped by every error of Provider.VerifyAccessToken that means the
// token is not acceptable ([oauth.ErrInvalidToken]).
var ErrInvalidToken = oauth.ErrInvalidToken

// ErrStorageUnavailable marks a storage failure that says nothing about the request
// ([oauth.ErrStorageUnavailable]): storage implementations wrap driver errors with it,
// and the endpoints answer 503 temporarily_unavailable with Retry-After; the errors of
// VerifyAccessToken, AuthorizationRequest, Approve and Deny wrap it too.
var ErrStorageUnavailable = oauth.ErrStorageUnavailable

// RetryAfterStorage is the Retry-After value of the 503 answers to storage failures
// ([oauth.RetryAfterStorage]).
const RetryAfterStorage = oauth.RetryAfterStorage

// OfflineAccessScope is the OIDC scope that asks for a refresh token
// ([oauth.OfflineAccessScope]); Config.RefreshTokenScopes is usually set to it.
const OfflineAccessScope = oauth.OfflineAccessScope

// OAuth error codes as strings ([oauth.ErrorCodeInvalidRequest] and the others), for the
// JSON bodies and challenges written outside fosite.
const (
	ErrorCodeInvalidRequest         = oauth.ErrorCodeInvalidRequest
	ErrorCodeInvalidToken           = oauth.ErrorCodeInvalidToken
	ErrorCodeInsufficientScope      = oauth.ErrorCodeInsufficientScope
	ErrorCodeInvalidRedirectURI     = oauth.ErrorCodeInvalidRedirectURI
	ErrorCodeInvalidClientMetadata  = oauth.ErrorCodeInvalidClientMetadata
	ErrorCodeServerError            = oauth.ErrorCodeServerError
	ErrorCodeTemporarilyUnavailable = oauth.ErrorCodeTemporarilyUnavailable
	ErrorCodeUnauthorized           = oauth.ErrorCodeUnauthorized
)

// CanonicalResource returns the canonical form of an RFC 8707 resource indicator
// ([oauth.CanonicalResource]).
func CanonicalResource(raw string) (string, error) { return oauth.CanonicalResource(raw) }

// ValidScopeToken reports whether s is an RFC 6749 §3.3 scope-token
// ([oauth.ValidScopeToken]).
func ValidScopeToken(s string) bool { return oauth.ValidScopeToken(s) }

// ErrorDescription returns description with the characters an error_description may not
// carry replaced ([oauth.ErrorDescription]).
func ErrorDescription(description string) string { return oauth.ErrorDescription(description) }
