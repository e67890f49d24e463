// Package jwtaccess issues and verifies RFC 9068 JWT access tokens, as an alternative to
// the provider's opaque HMAC access tokens: a [KeyManager] keeps rotating signing keys in
// a [SigningKeyStore] (storage/gorm implements it) and supplies
// [KeyManager.AccessTokenStrategy] and the JWKS at [JWKSURI]; a [Verifier] checks tokens
// locally from a [KeySet] (the KeyManager in process, a [RemoteKeySet] on the jwks_uri
// elsewhere) and implements resourceserver.AccessTokenVerifier.
//
// A locally verified token cannot be revoked before it expires: keep access tokens short
// ([DefaultAccessTokenLifespan]). docs/design-jwtaccess.md describes the revocation
// trade-off, key rotation across replicas, what a verified token says and the wiring;
// the package example shows the wiring.
package jwtaccess

import (
	"time"
)

// DefaultAccessTokenLifespan is the access-token lifetime recommended with JWT access
// tokens (set it as provider.Config.AccessTokenLifespan): local verification cannot see
// revocation, so a revoked token stays usable at most this long.
const DefaultAccessTokenLifespan = 10 * time.Minute

// Defaults of KeyManagerConfig.
const (
	// DefaultAlgorithm signs new keys: ECDSA P-256.
	DefaultAlgorithm = "ES256"
	// DefaultRotationPeriod is how long a key signs.
	DefaultRotationPeriod = 30 * 24 * time.Hour
	// DefaultPrePublish is how long a new key is published before it signs.
	DefaultPrePublish = time.Hour
	// DefaultMaxTokenLifespan is how long a retired key stays published: the provider's
	// default access-token lifespan (provider.DefaultAccessTokenLifespan, a test pins
	// the two equal), the longest a token can live unless configured.
	DefaultMaxTokenLifespan = time.Hour
	// DefaultRefreshInterval is how often the cached keys are re-read from the store.
	DefaultRefreshInterval = time.Minute
	// DefaultJWKSMaxAge is the longest Cache-Control max-age of the JWKS handler.
	DefaultJWKSMaxAge = 5 * time.Minute
)

// Defaults of VerifierConfig.
const (
	// DefaultLeeway is the clock skew tolerated for exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxTokenBytes is the longest token parsed.
	DefaultMaxTokenBytes = 16 << 10
)

// Defaults of RemoteKeySetConfig.
const (
	// DefaultRemoteRefresh is how long a fetched key set is used.
	DefaultRemoteRefresh = 5 * time.Minute
	// DefaultRemoteMinRefetch is the shortest interval between fetches caused by unknown kids.
	DefaultRemoteMinRefetch = 30 * time.Second
	// DefaultRemoteTimeout bounds one fetch.
	DefaultRemoteTimeout = 10 * time.Second
	// DefaultRemoteMaxBodyBytes caps the key set document.
	DefaultRemoteMaxBodyBytes = 256 << 10
)

const (
	defaultRSABits     = 2048
	pruneMargin        = 2 * DefaultLeeway // clock skew between replicas, on top of RefreshInterval
	lazyRefreshTimeout = 30 * time.Second
)

// JWKSPath is where Register serves the JSON Web Key Set, relative to the issuer's path.
const JWKSPath = "/jwks.json"

// TokenType is the JWS "typ" header of RFC 9068 access tokens. Verifiers also accept
// "application/at+jwt" (RFC 9068 §4), case-insensitively.
const TokenType = "at+jwt"

// JWKSURI returns the jwks_uri for issuer: issuer + JWKSPath. Put it into the metadata
// with provider.Config.EditMetadata.
func JWKSURI(issuer string) string { return issuer + JWKSPath }
