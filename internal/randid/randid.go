// Package randid makes unguessable identifiers (authorization request IDs, binding
// cookies, JWT IDs) from crypto/rand, base64url-encoded without padding, and unique
// identifiers and keys that sort by creation time (client IDs, grant request IDs, the
// provider's token keys).
package randid

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
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

// orderedEncoding is base32hex without padding: its alphabet is in ASCII order, so the
// encoded text sorts as the bytes do.
var orderedEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// TimeLen is the length of the creation time at the start of OrderedBytes: milliseconds
// since the Unix epoch, big-endian (enough until the year 10889).
const TimeLen = 6

// OrderedBytes returns the current time (TimeLen bytes) followed by n random bytes: the
// raw form of Ordered, for identifiers with an encoding of their own (the provider's
// token keys). It fails only when the system's random source does.
func OrderedBytes(n int) ([]byte, error) {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixMilli()))
	if _, err := rand.Read(b[8:]); err != nil {
		return nil, fmt.Errorf("randid: %w", err)
	}
	return b[8-TimeLen:], nil
}

// Ordered returns an identifier that sorts by creation time: OrderedBytes(n),
// base32hex-encoded without padding (digits and capitals "0"–"V"). Database rows keyed by
// such IDs are inserted next to each other in their indexes, where random IDs would each
// change a different index page. It says when it was made; use it only where that is
// public anyway. It fails only when the system's random source does.
func Ordered(n int) (string, error) {
	b, err := OrderedBytes(n)
	if err != nil {
		return "", err
	}
	return orderedEncoding.EncodeToString(b), nil
}
