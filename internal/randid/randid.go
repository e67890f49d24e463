// Package randid makes unguessable identifiers (authorization request IDs, binding
// cookies, JWT IDs) from crypto/rand, base64url-encoded without padding.
package randid

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// Sizes in bytes for New.
const (
	// Secret is 256 bits: for values that act as bearer secrets (pending authorization
	// IDs, browser binding cookies).
	Secret = 32
	// Unique is 128 bits: for values that need only be unique, not secret (JWT jti).
	Unique = 16
)

// New returns n random bytes, base64url-encoded without padding. It fails only when the
// system's random source does.
func New(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("randid: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
