package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// The statements of the hot paths (reading and writing codes, tokens and PKCE sessions,
// reading clients, the conditional writes of single use) go to database/sql directly,
// through the ConnPool of the *gorm.DB (so the pool, a transaction or GORM's prepared
// statement cache, whichever it is), rather than through GORM's statement builder: the
// builder's reflection and clause cloning cost more CPU and allocations than SQLite's own
// work for these one-row statements. Everything else keeps using GORM.

// sessionColumns are the columns of every session table, in the order scanSession reads.
const sessionColumns = "signature, request_id, client_id, subject, requested_at, expires_at, active, key_id, data"

// refreshExtraColumns are the refresh token table's own columns, in the order scanSession reads.
const refreshExtraColumns = "access_signature, first_used_at, used_count"

// clientColumns are the columns of oauth_clients, in the order scanClient reads.
const clientColumns = "id, secret_hash, secret_expires_at, public, token_endpoint_auth_method, redirect_uris, " +
	"grant_types, response_types, scopes, audience, contacts, application_type, name, uri, logo_uri, policy_uri, " +
	"tos_uri, software_id, software_version, source, registration_access_token_hash, created_at, updated_at, last_used_at"

// hotStatements holds the hot-path SQL, rendered once for the Store's dialect.
type hotStatements struct {
	getSession    map[string]string // by table; the refresh table's includes refreshExtraColumns
	insertSession map[string]string // by table; the refresh table's includes access_signature
	deleteSession map[string]string // by table
	getClient     string
	invalidate    string // a code's conditional deactivation
	rotate        string // a refresh token's conditional deactivation
	deactivate    string // the grant's other active refresh tokens
	deleteAccess  string // the grant's access tokens
}

func newHotStatements(d dialect) *hotStatements {
	h := &hotStatements{
		getSession:    map[string]string{},
		insertSession: map[string]string{},
		deleteSession: map[string]string{},
		getClient:     rebind(d, "SELECT "+clientColumns+" FROM "+tableClients+" WHERE id = ?"),
		invalidate:    rebind(d, "UPDATE "+tableCodes+" SET active = ? WHERE signature = ? AND active = ?"),
		rotate: rebind(d, "UPDATE "+tableRefresh+" SET active = ?, first_used_at = COALESCE(first_used_at, ?), "+
			"used_count = used_count + 1 WHERE signature = ? AND request_id = ? AND active = ?"),
		deactivate:   rebind(d, "UPDATE "+tableRefresh+" SET active = ? WHERE request_id = ? AND active = ?"),
		deleteAccess: rebind(d, "DELETE FROM "+tableAccess+" WHERE request_id = ?"),
	}
	for _, t := range []string{tableCodes, tableAccess, tableRefresh, tablePKCE} {
		cols, n := sessionColumns, 9
		if t == tableRefresh {
			cols += ", " + refreshExtraColumns
		}
		h.getSession[t] = rebind(d, "SELECT "+cols+" FROM "+t+" WHERE signature = ?")
		if t == tableRefresh {
			cols, n = sessionColumns+", access_signature", 10
		}
		h.insertSession[t] = rebind(d, "INSERT INTO "+t+" ("+cols+") VALUES ("+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+")")
		h.deleteSession[t] = rebind(d, "DELETE FROM "+t+" WHERE signature = ?")
	}
	return h
}

// rebind turns the ? placeholders of q into PostgreSQL's $1, $2, … for dialectPostgres.
func rebind(d dialect, q string) string {
	if d != dialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pool returns what a hot-path statement runs on: ctx's open transaction, or the pool.
func (s *Store) pool(ctx context.Context) gorm.ConnPool {
	if ref := txFrom(ctx); ref != nil {
		ref.st.mu.Lock()
		done := ref.st.done
		ref.st.mu.Unlock()
		if !done {
			return ref.st.tx.Statement.ConnPool
		}
	}
	return s.db.Statement.ConnPool
}

// exec runs a hot-path write on pool and returns the number of rows it affected. Errors
// are the driver's (unmapped: callers classify conflicts themselves).
func exec(ctx context.Context, pool gorm.ConnPool, q string, args ...any) (int64, error) {
	res, err := pool.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// selectSession reads the row of table under the hashed key (with the refresh token
// columns for the refresh table); fosite.ErrNotFound when absent.
func (s *Store) selectSession(ctx context.Context, table, key string) (*refreshRow, error) {
	var (
		row       refreshRow
		expires   sql.NullTime
		firstUsed sql.NullTime
	)
	b := &row.Base
	dest := []any{&b.Signature, &b.RequestID, &b.ClientID, &b.Subject, &b.RequestedAt, &expires, &b.Active, &b.KeyID, &b.Data}
	if table == tableRefresh {
		dest = append(dest, &row.AccessSignature, &firstUsed, &row.UsedCount)
	}
	if err := s.pool(ctx).QueryRowContext(ctx, s.hot.getSession[table], key).Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fosite.ErrNotFound
		}
		return nil, s.mapErr(err)
	}
	b.ExpiresAt = nullTime(expires)
	row.FirstUsedAt = nullTime(firstUsed)
	return &row, nil
}

// insertSession writes row into table; accessSignature is the refresh table's extra column.
func (s *Store) insertSession(ctx context.Context, table string, row *sessionRow, accessSignature string) error {
	var expires any
	if row.ExpiresAt != nil {
		expires = *row.ExpiresAt
	}
	args := []any{row.Signature, row.RequestID, row.ClientID, row.Subject, row.RequestedAt, expires, row.Active, row.KeyID, row.Data}
	if table == tableRefresh {
		args = append(args, accessSignature)
	}
	_, err := exec(ctx, s.pool(ctx), s.hot.insertSession[table], args...)
	return s.mapErr(err)
}

// selectClient reads the client row id; fosite.ErrNotFound when absent.
func (s *Store) selectClient(ctx context.Context, id string) (*clientRow, error) {
	var (
		r                        clientRow
		secretExp, lastUsed      sql.NullTime
		secretHash, regTokenHash []byte
	)
	err := s.pool(ctx).QueryRowContext(ctx, s.hot.getClient, id).Scan(&r.ID, &secretHash, &secretExp, &r.Public,
		&r.TokenEndpointAuthMethod, &r.RedirectURIs, &r.GrantTypes, &r.ResponseTypes, &r.Scopes, &r.Audience, &r.Contacts,
		&r.ApplicationType, &r.Name, &r.URI, &r.LogoURI, &r.PolicyURI, &r.TOSURI, &r.SoftwareID, &r.SoftwareVersion,
		&r.Source, &regTokenHash, &r.CreatedAt, &r.UpdatedAt, &lastUsed)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fosite.ErrNotFound
		}
		return nil, s.mapErr(err)
	}
	r.SecretHash, r.RegistrationAccessTokenHash = secretHash, regTokenHash
	r.SecretExpiresAt, r.LastUsedAt = nullTime(secretExp), nullTime(lastUsed)
	return &r, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}
