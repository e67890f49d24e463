package gormstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// keyring holds the AEADs for the configured keys; the first one encrypts.
type keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

func newKeyring(keys []Key) (*keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("gormstore: Options.EncryptionKeys is required (at least one 32-byte key)")
	}
	kr := &keyring{primary: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, k := range keys {
		if k.ID == "" || len(k.ID) > 64 {
			return nil, fmt.Errorf("gormstore: encryption key %d: ID must be 1-64 characters", i)
		}
		for _, r := range k.ID {
			if r < 0x21 || r > 0x7e {
				return nil, fmt.Errorf("gormstore: encryption key %d: ID must be printable ASCII without spaces", i)
			}
		}
		if len(k.Secret) != 32 {
			return nil, fmt.Errorf("gormstore: encryption key %q: secret must be 32 bytes, got %d", k.ID, len(k.Secret))
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("gormstore: encryption key ID %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("gormstore: encryption key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("gormstore: encryption key %q: %w", k.ID, err)
		}
		kr.aeads[k.ID] = aead
	}
	return kr, nil
}

// seal encrypts plaintext under the primary key; ad binds the ciphertext to its row
// (table and key column), so that a ciphertext moved to another row does not decrypt.
// The result is nonce || ciphertext.
func (kr *keyring) seal(plaintext, ad []byte) (keyID string, sealed []byte, err error) {
	aead := kr.aeads[kr.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("gormstore: nonce: %w", err)
	}
	return kr.primary, aead.Seal(nonce, nonce, plaintext, ad), nil
}

// ErrUndecryptable is returned when a stored row was encrypted with a key that is not (or no
// longer) among Options.EncryptionKeys, or fails authentication (tampered, or moved to another row).
var ErrUndecryptable = errors.New("gormstore: stored data cannot be decrypted with the configured keys")

func (kr *keyring) open(keyID string, sealed, ad []byte) ([]byte, error) {
	aead, ok := kr.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w (key %q not configured)", ErrUndecryptable, keyID)
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrUndecryptable
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrUndecryptable
	}
	return pt, nil
}

// rowAD is the additional data binding a ciphertext to its table and row key.
func rowAD(table, key string) []byte {
	return []byte("fosite-mcp/gormstore\x00" + table + "\x00" + key)
}
