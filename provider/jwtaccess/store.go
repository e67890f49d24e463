package jwtaccess

import (
	"context"
	"crypto"
	"errors"
	"time"
)

// SigningKey is a private key that signs JWTs (RFC 9068 JWT access tokens), as a
// SigningKeyStore keeps it. Keys form a sequence of generations: the key that signs at a
// given moment is the one with the highest Generation whose ActiveAt has passed, and a
// key stops signing once a later generation becomes active (it stays published until
// every token it signed has expired; package provider/jwtaccess manages that).
type SigningKey struct {
	// ID is the key ID (the JWS "kid"); unique.
	ID string
	// Generation numbers the keys in order of creation, from 1. It is unique: of two
	// replicas creating the same generation at once, one gets ErrSigningKeyExists.
	Generation int64
	// Algorithm is the JWS algorithm the key signs with, e.g. "ES256" or "RS256".
	Algorithm string
	// Key is the private key (*ecdsa.PrivateKey or *rsa.PrivateKey). Stores keep it
	// encrypted at rest.
	Key crypto.Signer
	// CreatedAt is when the key was created; it is published from then on.
	CreatedAt time.Time
	// ActiveAt is when the key may start signing. It lies after CreatedAt by the
	// pre-publication period, so that every verifier has the public key before the first
	// token signed with it arrives.
	ActiveAt time.Time
}

// SigningKeyStore persists JWT signing keys. It is optional and deliberately not part of
// Storage: only a JWT access-token strategy (provider/jwtaccess) needs it. storage/gorm
// implements it.
type SigningKeyStore interface {
	// CreateSigningKey stores a new key. It returns an error wrapping
	// ErrSigningKeyExists when a key with the same ID or the same Generation exists (for
	// example because another replica created it concurrently): re-read with
	// ListSigningKeys.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every stored key (published, signing or waiting to sign),
	// ordered by Generation, oldest first. A key that cannot be decrypted is an error,
	// not a missing key.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// DeleteSigningKey removes a key, which stops its publication: tokens it signed no
	// longer verify. It returns fosite.ErrNotFound when the key does not exist.
	DeleteSigningKey(ctx context.Context, id string) error
}

// ErrSigningKeyExists is returned by SigningKeyStore.CreateSigningKey when the key ID or
// generation is taken.
var ErrSigningKeyExists = errors.New("signing key already exists")
