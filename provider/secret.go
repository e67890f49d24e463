package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/ory/fosite"
	"golang.org/x/crypto/bcrypt"
)

// generatedSecretPrefix marks a hash of a server-generated, high-entropy secret.
const generatedSecretPrefix = "sha256$"

// GenerateSecret returns a new random secret with 256 bits of entropy, encoded as
// unpadded base64url (43 characters), and its hash for storage (see SecretHasher).
// Use it for client secrets and registration access tokens.
func GenerateSecret() (secret string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashGeneratedSecret(secret), nil
}

// HashGeneratedSecret hashes a server-generated high-entropy secret with SHA-256.
// A slow hash adds nothing for 256-bit secrets and would cost ~250 ms per token call.
func HashGeneratedSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return []byte(generatedSecretPrefix + hex.EncodeToString(sum[:]))
}

// SecretHasher is the fosite.Hasher for client secrets. Hashes made by
// HashGeneratedSecret ("sha256$…") are compared in constant time; anything else is
// treated as a bcrypt hash, the right choice for human-chosen secrets. Hash produces
// bcrypt hashes with Cost.
type SecretHasher struct {
	// Cost is the bcrypt cost for Hash; 0 means 12.
	Cost int
}

var _ fosite.Hasher = SecretHasher{}

// ErrSecretMismatch is returned by SecretHasher.Compare when the secret does not match.
var ErrSecretMismatch = errors.New("client secret does not match")

// Compare implements fosite.Hasher.
func (h SecretHasher) Compare(_ context.Context, hash, data []byte) error {
	if len(hash) == 0 {
		return ErrSecretMismatch
	}
	if strings.HasPrefix(string(hash), generatedSecretPrefix) {
		if subtle.ConstantTimeCompare(hash, HashGeneratedSecret(string(data))) != 1 {
			return ErrSecretMismatch
		}
		return nil
	}
	if err := bcrypt.CompareHashAndPassword(hash, data); err != nil {
		return ErrSecretMismatch
	}
	return nil
}

// Hash implements fosite.Hasher with bcrypt, for human-chosen secrets.
func (h SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	cost := h.Cost
	if cost == 0 {
		cost = 12
	}
	return bcrypt.GenerateFromPassword(data, cost)
}
