package oauth

import (
	"errors"
	"time"
)

// AccessToken is what a verified access token says: the identity and grant behind it.
// It never contains the token itself.
type AccessToken struct {
	// Subject identifies the resource owner (the user); empty for client credentials.
	Subject string
	// ClientID is the client the token was issued to.
	ClientID string
	// Scopes are the granted scopes.
	Scopes []string
	// Audience lists the resources (RFC 8707) the token is bound to.
	Audience []string
	// IssuedAt is when the token was issued.
	IssuedAt time.Time
	// ExpiresAt is when the token expires.
	ExpiresAt time.Time
	// GrantID identifies the grant (fosite's request ID), stable across refreshes.
	GrantID string
}

// ErrInvalidToken is wrapped by every error of a token verifier (provider.Provider,
// jwtaccess.Verifier, resourceserver.IntrospectionVerifier) that means the token is not
// acceptable (unknown, malformed, expired, revoked, or not an access token).
var ErrInvalidToken = errors.New("invalid access token")
