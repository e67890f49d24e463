package gormstore

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// tableSigningKeys holds JWT signing keys (provider.SigningKeyStore), added by migration 2.
const tableSigningKeys = "oauth_signing_keys"

var _ provider.SigningKeyStore = (*Store)(nil)

// signingKeysMigration creates oauth_signing_keys. The generation is unique, so that of
// several replicas creating the next key at once exactly one succeeds.
var signingKeysMigration = migration{
	version: 2,
	name:    "JWT signing keys",
	stmts: []string{
		`CREATE TABLE ` + tableSigningKeys + ` (
				id TEXT PRIMARY KEY,
				generation BIGINT NOT NULL UNIQUE,
				algorithm TEXT NOT NULL,
				created_at {{TIME}} NOT NULL,
				active_at {{TIME}} NOT NULL,
				key_id TEXT NOT NULL,
				data {{BYTES}} NOT NULL
			)`,
	},
}

// signingKeyRow is a row of oauth_signing_keys.
type signingKeyRow struct {
	ID         string    `gorm:"column:id;primaryKey"`
	Generation int64     `gorm:"column:generation"`
	Algorithm  string    `gorm:"column:algorithm"`
	CreatedAt  time.Time `gorm:"column:created_at;autoCreateTime:false"`
	ActiveAt   time.Time `gorm:"column:active_at"`
	// KeyID names the encryption key that sealed Data.
	KeyID string `gorm:"column:key_id"`
	// Data is the private key as PKCS #8 DER, encrypted with AES-256-GCM and bound to the row's ID.
	Data []byte `gorm:"column:data"`
}

// CreateSigningKey implements provider.SigningKeyStore. The private key is stored as PKCS #8,
// encrypted with the primary encryption key and bound to the key ID; a zero CreatedAt becomes
// the current time, a zero ActiveAt becomes CreatedAt. A taken ID or generation yields an error
// wrapping provider.ErrSigningKeyExists.
func (s *Store) CreateSigningKey(ctx context.Context, k *provider.SigningKey) error {
	if k == nil || k.ID == "" || k.Key == nil || k.Algorithm == "" || k.Generation < 1 {
		return errors.New("gormstore: signing key needs an ID, a key, an algorithm and a generation ≥ 1")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return fmt.Errorf("gormstore: encode signing key: %w", err)
	}
	keyID, data, err := s.keys.seal(der, rowAD(tableSigningKeys, k.ID))
	clear(der)
	if err != nil {
		return err
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	active := k.ActiveAt
	if active.IsZero() {
		active = created
	}
	res := s.conn(ctx).Table(tableSigningKeys).Create(&signingKeyRow{
		ID:         k.ID,
		Generation: k.Generation,
		Algorithm:  k.Algorithm,
		CreatedAt:  dbTime(created),
		ActiveAt:   dbTime(active),
		KeyID:      keyID,
		Data:       data,
	})
	if res.Error != nil {
		if isUniqueViolation(res.Error) {
			return fmt.Errorf("%w: %w", provider.ErrSigningKeyExists, res.Error)
		}
		return s.mapErr(res.Error)
	}
	return nil
}

// ListSigningKeys implements provider.SigningKeyStore: every key, decrypted, by generation. A
// key sealed with an encryption key that is no longer configured fails the whole call with
// ErrUndecryptable: keep old encryption keys until every signing key they sealed is deleted.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*provider.SigningKey, error) {
	var rows []signingKeyRow
	if err := s.reader(ctx).Table(tableSigningKeys).Order("generation").Find(&rows).Error; err != nil {
		return nil, s.mapErr(err)
	}
	out := make([]*provider.SigningKey, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		der, err := s.keys.open(r.KeyID, r.Data, rowAD(tableSigningKeys, r.ID))
		if err != nil {
			return nil, fmt.Errorf("signing key %q: %w", r.ID, err)
		}
		key, err := x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("gormstore: decode signing key %q: %w", r.ID, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("gormstore: signing key %q: %T is not a crypto.Signer", r.ID, key)
		}
		out = append(out, &provider.SigningKey{
			ID:         r.ID,
			Generation: r.Generation,
			Algorithm:  r.Algorithm,
			Key:        signer,
			CreatedAt:  r.CreatedAt.UTC(),
			ActiveAt:   r.ActiveAt.UTC(),
		})
	}
	return out, nil
}

// DeleteSigningKey implements provider.SigningKeyStore; fosite.ErrNotFound when absent.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	res := s.conn(ctx).Exec("DELETE FROM "+tableSigningKeys+" WHERE id = ?", id)
	if res.Error != nil {
		return s.mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return fosite.ErrNotFound
	}
	return nil
}

// isUniqueViolation reports whether err is a unique or primary key violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation
	}
	var sqErr sqlite3.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code == sqlite3.ErrConstraint &&
			(sqErr.ExtendedCode == sqlite3.ErrConstraintUnique || sqErr.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
	}
	return false
}
