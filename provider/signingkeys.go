package provider

import "github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"

// SigningKey is a private key that signs JWT access tokens ([jwtaccess.SigningKey]),
// re-exported for storage implementations.
type SigningKey = jwtaccess.SigningKey

// SigningKeyStore persists JWT signing keys ([jwtaccess.SigningKeyStore]). It is optional
// and not part of Storage: only JWT access tokens need it. storage/gorm implements it.
type SigningKeyStore = jwtaccess.SigningKeyStore

// ErrSigningKeyExists is returned by SigningKeyStore.CreateSigningKey when the key ID or
// generation is taken ([jwtaccess.ErrSigningKeyExists]).
var ErrSigningKeyExists = jwtaccess.ErrSigningKeyExists
