package gormstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Table names. They carry an "oauth_" prefix so that the schema can share a database with the
// application's own tables (and with tools that own a plain "schema_migrations").
const (
	tableMigrations = "oauth_schema_migrations"
	tableClients    = "oauth_clients"
	tableCodes      = "oauth_authorization_codes"
	tableAccess     = "oauth_access_tokens"
	tableRefresh    = "oauth_refresh_tokens"
	tablePKCE       = "oauth_pkce_requests"
	tablePending    = "oauth_pending_authorizations"
	tableJTIs       = "oauth_jtis"
)

// migration is one schema version. Its statements are written once with type placeholders
// ({{BYTES}}, {{TIME}}, {{BOOL}}) that each dialect fills in.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations is the schema history. Append only: never edit a released migration.
var migrations = []migration{
	{
		version: 1,
		name:    "initial schema",
		stmts: append([]string{
			`CREATE TABLE oauth_clients (
				id TEXT PRIMARY KEY,
				secret_hash {{BYTES}},
				secret_expires_at {{TIME}},
				public {{BOOL}} NOT NULL,
				token_endpoint_auth_method TEXT NOT NULL DEFAULT '',
				redirect_uris TEXT NOT NULL DEFAULT '[]',
				grant_types TEXT NOT NULL DEFAULT '[]',
				response_types TEXT NOT NULL DEFAULT '[]',
				scopes TEXT NOT NULL DEFAULT '[]',
				audience TEXT NOT NULL DEFAULT '[]',
				contacts TEXT NOT NULL DEFAULT '[]',
				application_type TEXT NOT NULL DEFAULT '',
				name TEXT NOT NULL DEFAULT '',
				uri TEXT NOT NULL DEFAULT '',
				logo_uri TEXT NOT NULL DEFAULT '',
				policy_uri TEXT NOT NULL DEFAULT '',
				tos_uri TEXT NOT NULL DEFAULT '',
				software_id TEXT NOT NULL DEFAULT '',
				software_version TEXT NOT NULL DEFAULT '',
				source TEXT NOT NULL DEFAULT '',
				registration_access_token_hash {{BYTES}},
				created_at {{TIME}} NOT NULL,
				updated_at {{TIME}} NOT NULL,
				last_used_at {{TIME}}
			)`,
			`CREATE TABLE oauth_pending_authorizations (
				id_hash TEXT PRIMARY KEY,
				client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
				created_at {{TIME}} NOT NULL,
				expires_at {{TIME}} NOT NULL,
				consumed_at {{TIME}},
				key_id TEXT NOT NULL,
				data {{BYTES}} NOT NULL
			)`,
			`CREATE INDEX oauth_pending_authorizations_client_id_idx ON oauth_pending_authorizations (client_id)`,
			`CREATE INDEX oauth_pending_authorizations_expires_at_idx ON oauth_pending_authorizations (expires_at)`,
			`CREATE TABLE oauth_jtis (
				jti_hash TEXT PRIMARY KEY,
				expires_at {{TIME}} NOT NULL
			)`,
			`CREATE INDEX oauth_jtis_expires_at_idx ON oauth_jtis (expires_at)`,
		}, append(append(append(
			sessionTableDDL(tableCodes, ""),
			sessionTableDDL(tableAccess, "")...),
			sessionTableDDL(tablePKCE, "")...),
			sessionTableDDL(tableRefresh, `,
				access_signature TEXT NOT NULL DEFAULT '',
				first_used_at {{TIME}},
				used_count INTEGER NOT NULL DEFAULT 0`)...)...),
	},
	signingKeysMigration,    // version 2, in signingkeys.go
	pendingBindingMigration, // version 3, in pending.go
	{
		// A refresh rotation deactivates the grant's other active refresh tokens
		// (… WHERE request_id = ? AND active = ?). Every rotation adds a row to the grant,
		// so with an index on request_id alone that statement walked the whole chain
		// (hundreds of rows for a client refreshing hourly for 14 days); with active in the
		// index it finds the live ones directly. The index also serves lookups by request_id.
		version: 4,
		name:    "refresh tokens indexed by grant and state",
		stmts: []string{
			`CREATE INDEX ` + tableRefresh + `_request_id_active_idx ON ` + tableRefresh + ` (request_id, active)`,
			`DROP INDEX ` + tableRefresh + `_request_id_idx`,
		},
	},
	deviceCodesMigration, // version 5, in device.go
	{
		// private_key_jwt clients (RFC 7523 §2.2): their public key set as JWKS JSON and
		// the one assertion algorithm they may pin; empty for every other client.
		version: 6,
		name:    "client keys for private_key_jwt",
		stmts: []string{
			`ALTER TABLE ` + tableClients + ` ADD COLUMN jwks TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE ` + tableClients + ` ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT ''`,
		},
	},
	clientJWKSURIMigration,   // version 7, in clients.go
	grantsMigration,          // version 8, in grants.go
	inactiveRefreshMigration, // version 9, in purge.go
	deviceRequestIDMigration, // version 10, in device.go
}

// sessionTableDDL is the shape shared by the code, access token, refresh token and PKCE tables.
func sessionTableDDL(table, extra string) []string {
	return []string{
		`CREATE TABLE ` + table + ` (
				signature TEXT PRIMARY KEY,
				request_id TEXT NOT NULL,
				client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
				subject TEXT NOT NULL DEFAULT '',
				requested_at {{TIME}} NOT NULL,
				expires_at {{TIME}},
				active {{BOOL}} NOT NULL DEFAULT TRUE,
				key_id TEXT NOT NULL,
				data {{BYTES}} NOT NULL` + extra + `
			)`,
		`CREATE INDEX ` + table + `_request_id_idx ON ` + table + ` (request_id)`,
		`CREATE INDEX ` + table + `_client_id_idx ON ` + table + ` (client_id)`,
		`CREATE INDEX ` + table + `_expires_at_idx ON ` + table + ` (expires_at)`,
	}
}

func (s *Store) render(stmt string) string {
	var r *strings.Replacer
	if s.dialect == dialectPostgres {
		r = strings.NewReplacer("{{BYTES}}", "BYTEA", "{{TIME}}", "TIMESTAMPTZ", "{{BOOL}}", "BOOLEAN")
	} else {
		// TIMESTAMP makes mattn/go-sqlite3 scan the column into time.Time.
		r = strings.NewReplacer("{{BYTES}}", "BLOB", "{{TIME}}", "TIMESTAMP", "{{BOOL}}", "BOOLEAN")
	}
	return r.Replace(stmt)
}

// migrationLockID is the PostgreSQL advisory lock key that serializes concurrent Migrate calls
// ("fmcpmigr" as a big-endian int64).
const migrationLockID int64 = 0x666d63706d696772

// Migrate brings the schema to the newest version, applying the missing migrations in order in
// one transaction and recording each in oauth_schema_migrations. It is idempotent and safe to run
// from several processes at once (PostgreSQL: advisory lock; SQLite: BEGIN IMMEDIATE).
func (s *Store) Migrate(ctx context.Context) error {
	// READ COMMITTED on PostgreSQL: the snapshot must be taken after the advisory lock is held.
	tx := s.db.WithContext(ctx).Begin(&sql.TxOptions{Isolation: sql.LevelDefault})
	if tx.Error != nil {
		return fmt.Errorf("gormstore: migrate: %w", tx.Error)
	}
	applied, err := s.migrate(tx, migrations[len(migrations)-1].version)
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("gormstore: migrate: %w", err)
	}
	if err := tx.Commit().Error; err != nil {
		return fmt.Errorf("gormstore: migrate: commit: %w", err)
	}
	for _, m := range applied {
		s.log.InfoContext(ctx, "applied schema migration", "version", m.version, "name", m.name)
	}
	return nil
}

// migrate applies in tx the missing migrations up to version upTo (tests stop short of the
// newest to build an older database).
func (s *Store) migrate(tx *gorm.DB, upTo int) ([]migration, error) {
	if s.dialect == dialectPostgres {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockID).Error; err != nil {
			return nil, err
		}
	}
	if err := tx.Exec(s.render(`CREATE TABLE IF NOT EXISTS ` + tableMigrations + ` (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at {{TIME}} NOT NULL
	)`)).Error; err != nil {
		return nil, err
	}
	var versions []int
	if err := tx.Table(tableMigrations).Order("version").Pluck("version", &versions).Error; err != nil {
		return nil, err
	}
	have := make(map[int]bool, len(versions))
	newest := 0
	for _, v := range versions {
		have[v] = true
		newest = max(newest, v)
	}
	if latest := migrations[len(migrations)-1].version; newest > latest {
		s.log.Warn("database schema is newer than this program knows", "database_version", newest, "program_version", latest)
	}
	var applied []migration
	for _, m := range migrations {
		if have[m.version] || m.version > upTo {
			continue
		}
		for _, stmt := range m.stmts {
			if err := tx.Exec(s.render(stmt)).Error; err != nil {
				return nil, fmt.Errorf("version %d (%s): %w", m.version, m.name, err)
			}
		}
		if err := tx.Exec("INSERT INTO "+tableMigrations+" (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UTC()).Error; err != nil {
			return nil, fmt.Errorf("version %d (%s): %w", m.version, m.name, err)
		}
		applied = append(applied, m)
	}
	return applied, nil
}

// SchemaVersion returns the newest applied migration version (0 before the first Migrate).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.WithContext(ctx).Table(tableMigrations).Select("MAX(version)").Scan(&v).Error
	if err != nil {
		if !s.tableExists(tableMigrations) {
			return 0, nil
		}
		return 0, fmt.Errorf("gormstore: schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (s *Store) tableExists(name string) bool {
	return s.db.Migrator().HasTable(name)
}
