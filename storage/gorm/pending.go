package gormstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// pendingBindingMigration binds a pending request to the browser that sent it and counts
// the passwords tried for it (see provider.PendingAuthorization).
var pendingBindingMigration = migration{
	version: 3,
	name:    "pending authorizations: browser binding and login attempts",
	stmts: []string{
		`ALTER TABLE ` + tablePending + ` ADD COLUMN browser_binding TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE ` + tablePending + ` ADD COLUMN login_attempts INTEGER NOT NULL DEFAULT 0`,
	},
}

// pendingRow is a row of oauth_pending_authorizations.
type pendingRow struct {
	// IDHash is the hex SHA-256 of the opaque ID.
	IDHash     string     `gorm:"column:id_hash;primaryKey"`
	ClientID   string     `gorm:"column:client_id"`
	CreatedAt  time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	ExpiresAt  time.Time  `gorm:"column:expires_at"`
	ConsumedAt *time.Time `gorm:"column:consumed_at"`
	// BrowserBinding is provider.PendingAuthorization.BrowserBinding (a hash).
	BrowserBinding string `gorm:"column:browser_binding"`
	LoginAttempts  int    `gorm:"column:login_attempts"`
	KeyID          string `gorm:"column:key_id"`
	// Data is the encrypted form (it may carry state, PKCE challenge and redirect URI).
	Data []byte `gorm:"column:data"`
}

// CreatePendingAuthorization implements provider.PendingAuthorizationStore. Only the SHA-256 of
// id is stored; the form is encrypted. A zero CreatedAt becomes the current time; ExpiresAt is required.
func (s *Store) CreatePendingAuthorization(ctx context.Context, id string, p *provider.PendingAuthorization) error {
	if p == nil || id == "" || p.ClientID == "" {
		return errors.New("gormstore: pending authorization needs an ID and a client ID")
	}
	if p.ExpiresAt.IsZero() {
		return errors.New("gormstore: pending authorization without expiry")
	}
	plain, err := json.Marshal(p.Form)
	if err != nil {
		return fmt.Errorf("gormstore: encode form: %w", err)
	}
	key := hashKey(id)
	keyID, data, err := s.keys.seal(plain, rowAD(tablePending, key))
	if err != nil {
		return err
	}
	created := p.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	row := &pendingRow{
		IDHash:         key,
		ClientID:       p.ClientID,
		CreatedAt:      dbTime(created),
		ExpiresAt:      dbTime(p.ExpiresAt),
		BrowserBinding: p.BrowserBinding,
		KeyID:          keyID,
		Data:           data,
	}
	return s.mapErr(s.conn(ctx).Table(tablePending).Create(row).Error)
}

// GetPendingAuthorization implements provider.PendingAuthorizationStore: the pending request
// without consuming it; fosite.ErrNotFound when absent, consumed or expired.
func (s *Store) GetPendingAuthorization(ctx context.Context, id string) (*provider.PendingAuthorization, error) {
	var row pendingRow
	err := s.reader(ctx).Table(tablePending).
		Where("id_hash = ? AND consumed_at IS NULL AND expires_at > ?", hashKey(id), dbTime(s.now())).
		Take(&row).Error
	if err != nil {
		return nil, s.mapErr(err)
	}
	return s.pendingFromRow(&row)
}

// ConsumePendingAuthorization implements provider.PendingAuthorizationStore with a conditional
// write (… WHERE consumed_at IS NULL AND expires_at > now): of several concurrent calls exactly one
// gets the request; the others, and calls for absent or expired IDs, get fosite.ErrNotFound.
func (s *Store) ConsumePendingAuthorization(ctx context.Context, id string) (*provider.PendingAuthorization, error) {
	key := hashKey(id)
	now := dbTime(s.now())
	db := s.conn(ctx)
	res := db.Table(tablePending).
		Where("id_hash = ? AND consumed_at IS NULL AND expires_at > ?", key, now).
		Update("consumed_at", now)
	if res.Error != nil {
		if isConflict(res.Error) {
			// Another transaction consumed it concurrently (PostgreSQL REPEATABLE READ).
			return nil, fmt.Errorf("%w: %w", fosite.ErrNotFound, s.mapErr(res.Error))
		}
		return nil, s.mapErr(res.Error)
	}
	if res.RowsAffected != 1 {
		return nil, fosite.ErrNotFound
	}
	var row pendingRow
	if err := db.Table(tablePending).Where("id_hash = ?", key).Take(&row).Error; err != nil {
		return nil, s.mapErr(err)
	}
	return s.pendingFromRow(&row)
}

// CountLoginAttempt implements provider.PendingAuthorizationStore with one conditional write
// (… SET login_attempts = login_attempts + 1 WHERE … AND login_attempts < limit RETURNING
// login_attempts): the database serializes concurrent attempts on the row, so however many
// replicas try passwords at once, at most limit attempts are ever counted. It returns the
// count including this attempt; fosite.ErrNotFound when the limit is reached or the request
// is absent, consumed or expired.
func (s *Store) CountLoginAttempt(ctx context.Context, id string, limit int) (int, error) {
	if limit <= 0 {
		return 0, fosite.ErrNotFound
	}
	var counts []int
	err := s.conn(ctx).Raw(`UPDATE `+tablePending+` SET login_attempts = login_attempts + 1
		WHERE id_hash = ? AND consumed_at IS NULL AND expires_at > ? AND login_attempts < ?
		RETURNING login_attempts`, hashKey(id), dbTime(s.now()), limit).Scan(&counts).Error
	if err != nil {
		return 0, s.mapErr(err)
	}
	if len(counts) != 1 {
		return 0, fosite.ErrNotFound
	}
	return counts[0], nil
}

func (s *Store) pendingFromRow(row *pendingRow) (*provider.PendingAuthorization, error) {
	plain, err := s.keys.open(row.KeyID, row.Data, rowAD(tablePending, row.IDHash))
	if err != nil {
		return nil, err
	}
	form := url.Values{}
	if err := json.Unmarshal(plain, &form); err != nil {
		return nil, fmt.Errorf("gormstore: decode form: %w", err)
	}
	if form == nil {
		form = url.Values{}
	}
	return &provider.PendingAuthorization{
		ClientID:       row.ClientID,
		Form:           form,
		CreatedAt:      row.CreatedAt.UTC(),
		ExpiresAt:      row.ExpiresAt.UTC(),
		BrowserBinding: row.BrowserBinding,
		LoginAttempts:  row.LoginAttempts,
	}, nil
}
