package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
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
	"tos_uri, software_id, software_version, source, registration_access_token_hash, created_at, updated_at, last_used_at, " +
	"jwks, token_endpoint_auth_signing_alg, jwks_uri"

// invalidateSQL is a code's conditional deactivation (its single use).
const invalidateSQL = "UPDATE " + tableCodes + " SET active = ? WHERE signature = ? AND active = ?"

// rotateSQL is a refresh token's conditional deactivation, recording its first use.
const rotateSQL = "UPDATE " + tableRefresh + " SET active = ?, first_used_at = COALESCE(first_used_at, ?), " +
	"used_count = used_count + 1 WHERE signature = ? AND request_id = ? AND active = ?"

// rotateArgs are rotateSQL's arguments: the refresh token under key of grant requestID,
// first used now.
func rotateArgs(now time.Time, key, requestID string) []any {
	return []any{false, now, key, requestID, true}
}

// touchGrantSQL records a grant's use and its tokens' expiry (TouchGrant): the later of
// the recorded one and the new one (NULL, never, stays), since one request's tokens may
// outlive another's (a refresh token beside an access-token-only exchange). Lowering it
// would let Purge delete a grant whose refresh token still lives, out of reach of
// RevokeGrants. The grant's expires_at is always its tokens' expiry or its remembered
// consent's, the later (NULL with tokens that never expire; RecordGrant and RevokeGrants
// keep it so), so it moves the same way: to the new expiry when that is later.
const touchGrantSQL = "UPDATE " + tableGrants + " SET last_used_at = ?, " +
	"token_expires_at = CASE WHEN token_expires_at IS NULL OR token_expires_at > ? THEN token_expires_at ELSE ? END, " +
	"expires_at = CASE WHEN expires_at IS NULL OR expires_at > ? THEN expires_at ELSE ? END " +
	"WHERE id = (SELECT grant_id FROM " + tableGrantRequests + " WHERE request_id = ?)"

// touchGrantNoExpirySQL is touchGrantSQL for tokens that never expire.
const touchGrantNoExpirySQL = "UPDATE " + tableGrants + " SET last_used_at = ?, token_expires_at = NULL, expires_at = NULL " +
	"WHERE id = (SELECT grant_id FROM " + tableGrantRequests + " WHERE request_id = ?)"

// touchGrantArgs are the arguments of touchGrantSQL, or of touchGrantNoExpirySQL when
// expiresAt is zero (tokens that never expire).
func touchGrantArgs(requestID string, at, expiresAt time.Time) []any {
	if expiresAt.IsZero() {
		return []any{dbTime(at), requestID}
	}
	var exp any = dbTime(expiresAt) // boxed once for its four uses
	return []any{dbTime(at), exp, exp, exp, exp, requestID}
}

// deactivateSQL deactivates a grant's active refresh tokens.
const deactivateSQL = "UPDATE " + tableRefresh + " SET active = ? WHERE request_id = ? AND active = ?"

// deleteAccessSQL deletes a grant's access tokens.
const deleteAccessSQL = "DELETE FROM " + tableAccess + " WHERE request_id = ?"

// touchClientSQL records a client's use, at most once a minute (TouchClient).
const touchClientSQL = "UPDATE " + tableClients + " SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)"

// touchClientArgs are touchClientSQL's arguments.
func touchClientArgs(id string, at time.Time) []any {
	at = dbTime(at)
	return []any{at, id, at.Add(-time.Minute)}
}

// hotStatements holds the hot-path SQL, rendered once for the Store's dialect.
type hotStatements struct {
	getSession         map[string]string // by table; the refresh table's includes refreshExtraColumns
	insertSession      map[string]string // by table; the refresh table's includes access_signature
	deleteSession      map[string]string // by table
	getClient          string
	insertClient       string                // a new client; nothing when the ID is taken
	touchClient        string                // a client's last use, at most once a minute
	invalidate         string                // a code's conditional deactivation
	rotate             string                // a refresh token's conditional deactivation
	deactivate         string                // the grant's other active refresh tokens
	deleteAccess       string                // the grant's access tokens
	revokeRest         string                // PostgreSQL: deactivate and deleteAccess in one statement (empty elsewhere)
	rotateIssued       string                // PostgreSQL: rotate and deleteIssued in one statement, counting rotate's rows (empty elsewhere)
	insertTokenPair    string                // PostgreSQL: an access token's and its refresh token's inserts in one statement (empty elsewhere)
	deleteIssued       string                // the access token issued with a refresh token (grace window)
	touchGrant         string                // a grant's last use and token expiry, on every code exchange and refresh
	touchGrantNoExpiry string                // the same when its tokens never expire
	issue              map[issueShape]string // PostgreSQL: a token response in one statement (IssueTokens; nil elsewhere)
	grants             grantStatements
}

func newHotStatements(d dialect) *hotStatements {
	h := &hotStatements{
		getSession:    map[string]string{},
		insertSession: map[string]string{},
		deleteSession: map[string]string{},
		getClient:     rebind(d, "SELECT "+clientColumns+" FROM "+tableClients+" WHERE id = ?"),
		insertClient: rebind(d, "INSERT INTO "+tableClients+" ("+clientColumns+") VALUES ("+
			placeholders(strings.Count(clientColumns, ",")+1)+") ON CONFLICT (id) DO NOTHING"),
		touchClient:        rebind(d, touchClientSQL),
		invalidate:         rebind(d, invalidateSQL),
		rotate:             rebind(d, rotateSQL),
		deactivate:         rebind(d, deactivateSQL),
		deleteAccess:       rebind(d, deleteAccessSQL),
		deleteIssued:       rebind(d, "DELETE FROM "+tableAccess+" WHERE signature = (SELECT access_signature FROM "+tableRefresh+" WHERE signature = ?)"),
		touchGrant:         rebind(d, touchGrantSQL),
		touchGrantNoExpiry: rebind(d, touchGrantNoExpirySQL),
		grants:             newGrantStatements(d),
	}
	if d == dialectPostgres {
		// A strict rotation's two follow-up writes in one round trip: a data-modifying CTE
		// runs both on the transaction's snapshot (REPEATABLE READ, as the two statements
		// did) and takes the same row locks.
		// h.deactivate's $2 is the request ID.
		h.revokeRest = "WITH deactivated AS (" + h.deactivate + ") DELETE FROM " + tableAccess + " WHERE request_id = $2"
		// A grace-window rotation's first use: the conditional rotation and the delete of
		// the access token its row names, in one round trip; the count is rotate's.
		h.rotateIssued = "WITH rotated AS (" + h.rotate + " RETURNING access_signature), issued AS (DELETE FROM " +
			tableAccess + " WHERE signature IN (SELECT access_signature FROM rotated)) SELECT count(*) FROM rotated"
		// A token response's two inserts in one round trip; the refresh row's
		// access_signature is the last argument.
		h.issue = issueStatements()
		h.insertTokenPair = rebind(d, "WITH access AS (INSERT INTO "+tableAccess+" ("+sessionColumns+") VALUES ("+
			placeholders(9)+")) INSERT INTO "+tableRefresh+" ("+sessionColumns+", access_signature) VALUES ("+placeholders(10)+")")
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
		h.insertSession[t] = rebind(d, "INSERT INTO "+t+" ("+cols+") VALUES ("+placeholders(n)+")")
		h.deleteSession[t] = rebind(d, "DELETE FROM "+t+" WHERE signature = ?")
	}
	return h
}

// all returns every statement of h.
func (h *hotStatements) all() []string {
	qs := append(h.reads(), h.insertClient, h.touchClient, h.invalidate, h.rotate, h.deactivate, h.deleteAccess, h.deleteIssued,
		h.touchGrant, h.touchGrantNoExpiry)
	if h.revokeRest != "" {
		qs = append(qs, h.revokeRest, h.rotateIssued, h.insertTokenPair)
	}
	for _, q := range h.issue {
		qs = append(qs, q)
	}
	qs = append(qs, h.grants.all()...)
	for _, m := range []map[string]string{h.insertSession, h.deleteSession} {
		for _, q := range m {
			qs = append(qs, q)
		}
	}
	return qs
}

// reads returns the statements of h that only read (what the SQLite readers run).
func (h *hotStatements) reads() []string {
	qs := []string{h.getClient}
	for _, q := range h.getSession {
		qs = append(qs, q)
	}
	return qs
}

// placeholders returns n comma-separated ? placeholders.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
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

// pool returns what a hot-path write runs on: ctx's open transaction, or the pool (the
// writer, for SQLite files).
func (s *Store) pool(ctx context.Context) gorm.ConnPool {
	if conn := openConn(ctx); conn != nil {
		return conn
	}
	return s.db.Statement.ConnPool
}

// readPool returns what a hot-path read runs on: ctx's open transaction, or the readers
// (SQLite files; the pool otherwise).
func (s *Store) readPool(ctx context.Context) gorm.ConnPool {
	if conn := openConn(ctx); conn != nil {
		return conn
	}
	return s.read.Statement.ConnPool
}

// preparedStatements prepares each hot-path statement once on one *sql.DB (database/sql
// then prepares it once per connection and keeps it): SQLite otherwise compiles every
// statement on every call. Transactions use the prepared statement through Tx.StmtContext.
type preparedStatements struct {
	db      *sql.DB  // nil: nothing is prepared
	queries []string // what to prepare

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	closed bool // after Close: prepare nothing more
}

func newPreparedStatements(db *sql.DB, queries []string) *preparedStatements {
	return &preparedStatements{db: db, queries: queries, stmts: make(map[string]*sql.Stmt)}
}

// stmt returns the statement q prepared for pool, or nil when pool is neither one of the
// Store's *sql.DBs nor a transaction of its writer (a caller's *gorm.DB with its own
// ConnPool, such as GORM's PrepareStmt mode): q then runs unprepared.
func (s *Store) stmt(ctx context.Context, pool gorm.ConnPool, q string) (*sql.Stmt, error) {
	var (
		tx *sql.Tx
		ps *preparedStatements
	)
	switch p := pool.(type) {
	case *sql.DB:
		switch p {
		case s.prepared.db:
			ps = s.prepared
		case s.preparedRead.db:
			ps = s.preparedRead
		}
	case *sql.Tx:
		tx, ps = p, s.prepared
	case *member:
		tx, ps = p.b.tx, s.prepared
	}
	if ps == nil || ps.db == nil {
		return nil, nil
	}
	ps.mu.Lock()
	st, ok := ps.stmts[q]
	ps.mu.Unlock()
	if !ok && tx == nil {
		// Prepare every hot statement now: some run only inside transactions, where
		// preparing on the pool would need a second connection while this goroutine holds
		// one (the single writer connection would deadlock). No lock is held while
		// preparing (it waits for a connection). A failure (tables not migrated yet) is
		// tried again on the next call.
		if err := ps.prepareAll(ctx); err != nil {
			return nil, nil
		}
		ps.mu.Lock()
		st, ok = ps.stmts[q]
		ps.mu.Unlock()
	}
	if !ok {
		return nil, nil
	}
	if tx != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return st, nil
}

// prepareAll prepares the statements not prepared yet.
func (ps *preparedStatements) prepareAll(ctx context.Context) error {
	var missing []string
	ps.mu.Lock()
	for _, q := range ps.queries {
		if _, ok := ps.stmts[q]; !ok {
			missing = append(missing, q)
		}
	}
	ps.mu.Unlock()
	for _, q := range missing {
		st, err := ps.db.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		ps.mu.Lock()
		if _, ok := ps.stmts[q]; ok || ps.closed {
			_ = st.Close()
		} else {
			ps.stmts[q] = st
		}
		ps.mu.Unlock()
	}
	return nil
}

// close closes the prepared statements (Store.Close).
func (ps *preparedStatements) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.closed = true
	for q, st := range ps.stmts {
		_ = st.Close()
		delete(ps.stmts, q)
	}
}

// statementContext is the context a hot-path statement on pool runs with. On an SQLite
// writer member (groupCommitter) and on OpenSQLite's reader pool it is context.Background()
// once ctx is checked: the connections ignore cancellation (sqliteConnector), a reader is
// rarely waited for, and database/sql starts a goroutine per query for a context that can
// end. Elsewhere (PostgreSQL, the writer pool outside transactions) it is ctx.
func (s *Store) statementContext(ctx context.Context, pool gorm.ConnPool) (context.Context, error) {
	if s.group == nil {
		return ctx, nil
	}
	if _, ok := pool.(*member); !ok && (s.read == s.db || pool != s.read.Statement.ConnPool) {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return ctx, err
	}
	return context.Background(), nil
}

// exec runs the hot-path write q on pool and returns the number of rows it affected.
// Errors are the driver's (unmapped: callers classify conflicts themselves).
func (s *Store) exec(ctx context.Context, pool gorm.ConnPool, q string, args ...any) (int64, error) {
	if m, ok := pool.(*member); ok {
		return m.exec(q, args)
	}
	ctx, err := s.statementContext(ctx, pool)
	if err != nil {
		return 0, err
	}
	st, err := s.stmt(ctx, pool, q)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = pool.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryRow runs the hot-path query q on pool and scans its one row into dest:
// fosite.ErrNotFound when there is none, other errors mapped.
func (s *Store) queryRow(ctx context.Context, pool gorm.ConnPool, q string, args []any, dest ...any) error {
	ctx, err := s.statementContext(ctx, pool)
	if err != nil {
		return s.mapErr(err)
	}
	st, err := s.stmt(ctx, pool, q)
	if err != nil {
		return s.mapErr(err)
	}
	var row *sql.Row
	if st != nil {
		row = st.QueryRowContext(ctx, args...)
	} else {
		row = pool.QueryRowContext(ctx, q, args...)
	}
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fosite.ErrNotFound
		}
		return s.mapErr(err)
	}
	return nil
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
	if err := s.queryRow(ctx, s.readPool(ctx), s.hot.getSession[table], []any{key}, dest...); err != nil {
		return nil, err
	}
	b.ExpiresAt = nullTime(expires)
	row.FirstUsedAt = nullTime(firstUsed)
	return &row, nil
}

// insertSession writes row into table; accessSignature is the refresh table's extra column.
func (s *Store) insertSession(ctx context.Context, table string, row *sessionRow, accessSignature string) error {
	args := row.values()
	if table == tableRefresh {
		args = append(args, accessSignature)
	}
	_, err := s.exec(ctx, s.pool(ctx), s.hot.insertSession[table], args...)
	if isForeignKeyViolation(err) {
		// The client is gone: another replica deleted it while this one had it cached.
		// Forget it, so that this request is the only one that gets this far.
		s.forgetClient(ctx, row.ClientID)
	}
	return s.mapErr(err)
}

// values returns row's columns in the order of sessionColumns, as statement arguments.
func (row *sessionRow) values() []any {
	return []any{row.Signature, row.RequestID, row.ClientID, row.Subject, row.RequestedAt, timeOrNil(row.ExpiresAt),
		row.Active, row.KeyID, row.Data}
}

// isForeignKeyViolation reports whether err is a foreign key violation (PostgreSQL 23503,
// SQLite SQLITE_CONSTRAINT_FOREIGNKEY): a row referencing a client that does not exist.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23503"
	}
	var sqErr sqlite3.Error
	return errors.As(err, &sqErr) && sqErr.ExtendedCode == sqlite3.ErrConstraintForeignKey
}

// selectClient reads the client row id; fosite.ErrNotFound when absent.
func (s *Store) selectClient(ctx context.Context, id string) (*clientRow, error) {
	var (
		r                        clientRow
		secretExp, lastUsed      sql.NullTime
		secretHash, regTokenHash []byte
	)
	err := s.queryRow(ctx, s.readPool(ctx), s.hot.getClient, []any{id}, &r.ID, &secretHash, &secretExp, &r.Public,
		&r.TokenEndpointAuthMethod, &r.RedirectURIs, &r.GrantTypes, &r.ResponseTypes, &r.Scopes, &r.Audience, &r.Contacts,
		&r.ApplicationType, &r.Name, &r.URI, &r.LogoURI, &r.PolicyURI, &r.TOSURI, &r.SoftwareID, &r.SoftwareVersion,
		&r.Source, &regTokenHash, &r.CreatedAt, &r.UpdatedAt, &lastUsed, &r.JWKS, &r.TokenEndpointAuthSigningAlg, &r.JWKSURI)
	if err != nil {
		return nil, err
	}
	r.SecretHash, r.RegistrationAccessTokenHash = secretHash, regTokenHash
	r.SecretExpiresAt, r.LastUsedAt = nullTime(secretExp), nullTime(lastUsed)
	return &r, nil
}

// values returns r's fields in the order of clientColumns, as statement arguments.
func (r *clientRow) values() []any {
	return []any{r.ID, r.SecretHash, timeOrNil(r.SecretExpiresAt), r.Public, r.TokenEndpointAuthMethod, r.RedirectURIs,
		r.GrantTypes, r.ResponseTypes, r.Scopes, r.Audience, r.Contacts, r.ApplicationType, r.Name, r.URI, r.LogoURI,
		r.PolicyURI, r.TOSURI, r.SoftwareID, r.SoftwareVersion, r.Source, r.RegistrationAccessTokenHash, r.CreatedAt,
		r.UpdatedAt, timeOrNil(r.LastUsedAt), r.JWKS, r.TokenEndpointAuthSigningAlg, r.JWKSURI}
}

// timeOrNil is *t, or nil (SQL NULL) for a nil t.
func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}
