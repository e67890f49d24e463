// Package jwtaccess issues and verifies RFC 9068 JWT access tokens for a
// [provider.Provider], as an alternative to its opaque HMAC access tokens.
//
// It has four parts:
//
//   - [KeyManager] keeps the signing keys in a [SigningKeyStore] (storage/gorm
//     implements it, private keys encrypted at rest), creates the first key when there is
//     none, rotates keys with overlap and caches them in memory.
//   - [KeyManager.AccessTokenStrategy] plugs into provider.Config.AccessTokenStrategy. The
//     tokens it issues carry the header typ "at+jwt" and kid, and the claims iss, sub,
//     aud (the RFC 8707 resources the grant is bound to), client_id, scope, exp, iat and
//     jti. They are still stored by signature, so introspection and revocation through the
//     provider keep working. Refresh tokens and codes stay opaque HMAC tokens.
//   - [KeyManager.JWKSHandler] publishes the public keys at jwks_uri ([JWKSPath] under the
//     issuer).
//   - [Verifier] checks a token locally, without a database round trip: signature by kid
//     from a cached key set ([KeyManager] in the same deployment, [RemoteKeySet] for a
//     resource server in another process that only knows the jwks_uri), typ, iss, exp,
//     nbf, iat and an algorithm allow-list. It implements the mcp bearer middleware's
//     AccessTokenVerifier.
//
// # Revocation trade-off
//
// Local verification is what lets resource servers scale out, and its price is that it
// cannot see revocation: a revoked (or reused-refresh-token-revoked) JWT access token
// keeps verifying locally until its exp. Introspection through the provider
// (Provider.VerifyAccessToken, the introspection endpoint) does see it, because the token
// is still stored. Keep JWT access tokens short-lived: set provider.Config.AccessTokenLifespan
// to [DefaultAccessTokenLifespan] (10 minutes; 5 to 15 minutes is the usual range) rather
// than the provider's 1 hour default for opaque tokens. Clients refresh transparently.
//
// # Key rotation
//
// Every key has a generation. The key that signs is the newest generation whose ActiveAt
// has passed. [KeyManagerConfig.RotationPeriod] after a key started signing, its successor
// takes over; the successor is created and published [KeyManagerConfig.PrePublish] earlier,
// so that every replica (which re-reads the store every RefreshInterval) and every remote
// verifier (which caches the JWKS) knows it before the first token signed with it
// arrives. A key that stopped signing stays published for MaxTokenLifespan plus a margin,
// until every token it signed has expired, and is then deleted. Replicas starting or
// rotating at the same moment agree: a generation can be created once (the store refuses
// a second key with the same generation), and the loser re-reads the winner's key.
//
// Every replica must agree on MaxTokenLifespan: any of them may delete a retired key,
// so with an AccessTokenLifespan above the 1 hour default set
// KeyManagerConfig.MaxTokenLifespan to it everywhere (AccessTokenStrategy raises it only
// in the process that issues tokens). Run KeyManager.Run on every replica, including
// those that only verify: verification reads the in-memory cache only.
//
// # What a locally verified token says
//
// [Verifier.VerifyAccessToken] fills oauth.AccessToken from the claims, with these
// differences from Provider.VerifyAccessToken on the same token: GrantID is empty (the
// grant is not in the JWT); for the client credentials grant Subject is the client ID
// (RFC 9068 §2.2 wants sub to name the client when there is no resource owner); and a
// token issued without any resource has no aud (RFC 9068 makes aud required: configure
// provider.Config.Resources and DefaultResource, as MCP needs anyway). The Verifier does
// not check the audience or scopes: the bearer middleware does.
//
// # Wiring
//
// See the package example: create a KeyManager on the store, set
// Config.AccessTokenStrategy to keys.AccessTokenStrategy, add jwks_uri with
// Config.EditMetadata, register the JWKS handler on the mux, run keys.Run in the
// background, and give the bearer middleware a [Verifier].
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
