package gormstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// tableDevice holds device authorizations (RFC 8628).
const tableDevice = "oauth_device_codes"

var _ provider.DeviceAuthorizationStore = (*Store)(nil)

// deviceCodesMigration adds the device authorization table. Its version follows the
// migrations before it; renumber it (never reorder) when merging branches that add others.
var deviceCodesMigration = migration{
	version: 5,
	name:    "device authorization grant (RFC 8628)",
	stmts: []string{
		`CREATE TABLE oauth_device_codes (
			device_code_hash TEXT PRIMARY KEY,
			user_code_hash TEXT NOT NULL UNIQUE,
			client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
			status TEXT NOT NULL,
			created_at {{TIME}} NOT NULL,
			expires_at {{TIME}} NOT NULL,
			interval_seconds INTEGER NOT NULL,
			last_polled_at {{TIME}},
			polls INTEGER NOT NULL DEFAULT 0,
			key_id TEXT NOT NULL,
			data {{BYTES}} NOT NULL
		)`,
		`CREATE INDEX oauth_device_codes_client_id_idx ON oauth_device_codes (client_id)`,
		`CREATE INDEX oauth_device_codes_expires_at_idx ON oauth_device_codes (expires_at)`,
	},
}

// deviceRequestIDMigration (version 10) keeps a device authorization's request ID, the
// grant's, in a column of its own, so that revoking the grant (RevokeGrants) can stop an
// approved device code before the client's next poll redeems it, as it stops an
// unredeemed authorization code. Rows from before it hold "" and expire within minutes.
var deviceRequestIDMigration = migration{
	version: 10,
	name:    "device authorizations by grant request",
	stmts: []string{
		`ALTER TABLE ` + tableDevice + ` ADD COLUMN request_id TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX ` + tableDevice + `_request_id_idx ON ` + tableDevice + ` (request_id)`,
	},
}

// deviceRow is a row of oauth_device_codes. The device code and the user code are
// stored as hex SHA-256 of the signatures the provider passes (an HMAC signature and an
// HMAC of the user code); what the request asks for and who approved it is encrypted.
type deviceRow struct {
	DeviceCodeHash  string     `gorm:"column:device_code_hash;primaryKey"`
	UserCodeHash    string     `gorm:"column:user_code_hash"`
	ClientID        string     `gorm:"column:client_id"`
	RequestID       string     `gorm:"column:request_id"`
	Status          string     `gorm:"column:status"`
	CreatedAt       time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	ExpiresAt       time.Time  `gorm:"column:expires_at"`
	IntervalSeconds int64      `gorm:"column:interval_seconds"`
	LastPolledAt    *time.Time `gorm:"column:last_polled_at"`
	Polls           int64      `gorm:"column:polls"`
	KeyID           string     `gorm:"column:key_id"`
	Data            []byte     `gorm:"column:data"`
}

// sealedDevice is the encrypted part of a device authorization.
type sealedDevice struct {
	RequestID     string   `json:"id"`
	Scopes        []string `json:"s,omitempty"`
	Resources     []string `json:"r,omitempty"`
	Subject       string   `json:"sub,omitempty"`
	GrantedScopes []string `json:"gs,omitempty"`
}

// CreateDeviceAuthorization implements provider.DeviceAuthorizationStore. A user code
// already stored (unique index) is fosite.ErrSerializationFailure.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, deviceCodeSignature, userCodeSignature string, d *provider.DeviceAuthorization) error {
	if d == nil || deviceCodeSignature == "" || userCodeSignature == "" || d.ClientID == "" || d.ExpiresAt.IsZero() {
		return errors.New("gormstore: device authorization needs codes, a client ID and an expiry")
	}
	key := hashKey(deviceCodeSignature)
	keyID, data, err := s.sealDevice(key, d)
	if err != nil {
		return err
	}
	created := d.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	status := d.Status
	if status == "" {
		status = provider.DeviceStatusPending
	}
	row := &deviceRow{
		DeviceCodeHash:  key,
		UserCodeHash:    hashKey(userCodeSignature),
		ClientID:        d.ClientID,
		RequestID:       d.RequestID,
		Status:          string(status),
		CreatedAt:       dbTime(created),
		ExpiresAt:       dbTime(d.ExpiresAt),
		IntervalSeconds: int64(d.Interval / time.Second),
		LastPolledAt:    optTime(d.LastPolledAt),
		KeyID:           keyID,
		Data:            data,
	}
	return s.mapErr(s.conn(ctx).Table(tableDevice).Create(row).Error)
}

func (s *Store) sealDevice(key string, d *provider.DeviceAuthorization) (string, []byte, error) {
	plain, err := json.Marshal(sealedDevice{
		RequestID:     d.RequestID,
		Scopes:        d.Scopes,
		Resources:     d.Resources,
		Subject:       d.Subject,
		GrantedScopes: d.GrantedScopes,
	})
	if err != nil {
		return "", nil, fmt.Errorf("gormstore: encode device authorization: %w", err)
	}
	return s.keys.seal(plain, rowAD(tableDevice, key))
}

func (s *Store) deviceFromRow(row *deviceRow) (*provider.DeviceAuthorization, error) {
	plain, err := s.keys.open(row.KeyID, row.Data, rowAD(tableDevice, row.DeviceCodeHash))
	if err != nil {
		return nil, err
	}
	var sd sealedDevice
	if err := json.Unmarshal(plain, &sd); err != nil {
		return nil, fmt.Errorf("gormstore: decode device authorization: %w", err)
	}
	d := &provider.DeviceAuthorization{
		ClientID:      row.ClientID,
		RequestID:     sd.RequestID,
		Scopes:        sd.Scopes,
		Resources:     sd.Resources,
		Status:        provider.DeviceStatus(row.Status),
		Subject:       sd.Subject,
		GrantedScopes: sd.GrantedScopes,
		CreatedAt:     row.CreatedAt.UTC(),
		ExpiresAt:     row.ExpiresAt.UTC(),
		Interval:      time.Duration(row.IntervalSeconds) * time.Second,
	}
	if row.LastPolledAt != nil {
		d.LastPolledAt = row.LastPolledAt.UTC()
	}
	return d, nil
}

// GetDeviceAuthorizationByUserCode implements provider.DeviceAuthorizationStore: the
// pending, unexpired request; fosite.ErrNotFound otherwise.
func (s *Store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeSignature string) (*provider.DeviceAuthorization, error) {
	var row deviceRow
	err := s.conn(ctx).Table(tableDevice).
		Where("user_code_hash = ? AND status = ? AND expires_at > ?", hashKey(userCodeSignature), string(provider.DeviceStatusPending), dbTime(s.now())).
		Take(&row).Error
	if err != nil {
		return nil, s.mapErr(err)
	}
	return s.deviceFromRow(&row)
}

// DecideDeviceAuthorization implements provider.DeviceAuthorizationStore with a
// conditional write (… WHERE status = 'pending' AND expires_at > now): one of concurrent decisions wins, the others get fosite.ErrNotFound.
func (s *Store) DecideDeviceAuthorization(ctx context.Context, userCodeSignature string, approve bool, subject string, granted []string) error {
	var row deviceRow
	db := s.conn(ctx)
	now := dbTime(s.now())
	err := db.Table(tableDevice).
		Where("user_code_hash = ? AND status = ? AND expires_at > ?", hashKey(userCodeSignature), string(provider.DeviceStatusPending), now).
		Take(&row).Error
	if err != nil {
		return s.mapErr(err)
	}
	updates := map[string]any{"status": string(provider.DeviceStatusDenied)}
	if approve {
		d, err := s.deviceFromRow(&row)
		if err != nil {
			return err
		}
		d.Subject, d.GrantedScopes = subject, granted
		keyID, data, err := s.sealDevice(row.DeviceCodeHash, d)
		if err != nil {
			return err
		}
		updates = map[string]any{"status": string(provider.DeviceStatusApproved), "key_id": keyID, "data": data}
	}
	res := db.Table(tableDevice).
		Where("device_code_hash = ? AND status = ? AND expires_at > ?", row.DeviceCodeHash, string(provider.DeviceStatusPending), now).
		Updates(updates)
	return s.oneWinner(res)
}

// oneWinner maps the outcome of a conditional update of one row: nil when it changed
// the row, fosite.ErrNotFound when the condition no longer held (or, on PostgreSQL, a
// concurrent update conflicted: then the error matches fosite.ErrSerializationFailure
// too).
func (s *Store) oneWinner(res *gorm.DB) error {
	if res.Error != nil {
		if isConflict(res.Error) {
			return fmt.Errorf("%w: %w", fosite.ErrNotFound, s.mapErr(res.Error))
		}
		return s.mapErr(res.Error)
	}
	if res.RowsAffected != 1 {
		return fosite.ErrNotFound
	}
	return nil
}

// PollDeviceAuthorization implements provider.DeviceAuthorizationStore. The poll is a
// conditional write on the row's poll counter, so that the interval is enforced per
// device code across replicas: a poll sooner than the stored interval after the
// previous one, or one that loses the race against a concurrent poll, is tooFast and
// adds step to the stored interval.
func (s *Store) PollDeviceAuthorization(ctx context.Context, deviceCodeSignature, clientID string, now time.Time, step time.Duration) (*provider.DeviceAuthorization, bool, error) {
	key := hashKey(deviceCodeSignature)
	db := s.conn(ctx)
	var row deviceRow
	if err := db.Table(tableDevice).Where("device_code_hash = ? AND client_id = ?", key, clientID).Take(&row).Error; err != nil {
		return nil, false, s.mapErr(err)
	}
	d, err := s.deviceFromRow(&row)
	if err != nil {
		return nil, false, err
	}
	now = dbTime(now)
	tooFast := row.LastPolledAt != nil && now.Sub(row.LastPolledAt.UTC()) < time.Duration(row.IntervalSeconds)*time.Second
	updates := map[string]any{"last_polled_at": now, "polls": gorm.Expr("polls + 1")}
	if tooFast {
		updates["interval_seconds"] = gorm.Expr("interval_seconds + ?", int64(step/time.Second))
	}
	res := db.Table(tableDevice).Where("device_code_hash = ? AND polls = ?", key, row.Polls).Updates(updates)
	switch {
	case res.Error != nil && !isConflict(res.Error):
		return nil, false, s.mapErr(res.Error)
	case res.Error != nil || res.RowsAffected != 1:
		// A concurrent poll of the same device code won: this one is too fast.
		return d, true, nil
	}
	d.LastPolledAt = now
	if tooFast {
		d.Interval += step
	}
	return d, tooFast, nil
}

// ConsumeDeviceAuthorization implements provider.DeviceAuthorizationStore with a
// conditional write (… WHERE status = 'approved'): of concurrent calls exactly one
// succeeds, the others get fosite.ErrNotFound (on PostgreSQL, a concurrent-update
// conflict matches both fosite.ErrNotFound and fosite.ErrSerializationFailure).
func (s *Store) ConsumeDeviceAuthorization(ctx context.Context, deviceCodeSignature string) error {
	res := s.conn(ctx).Table(tableDevice).
		Where("device_code_hash = ? AND status = ?", hashKey(deviceCodeSignature), string(provider.DeviceStatusApproved)).
		Update("status", string(provider.DeviceStatusConsumed))
	return s.oneWinner(res)
}
