package gormstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Grants (provider.GrantStore). A grant is one subject × client × resource set; its row in
// oauth_grants carries what the grants API lists and the remembered consent. Each approval
// of the grant (fosite request ID: the code and every token minted from it share it) is a
// row of oauth_grant_requests, so that revoking a grant finds its tokens through the
// request_id indexes of the token tables: O(tokens of the grant), never a table scan.
// The last use is written on code exchange and refresh (TouchGrant), never per bearer check.
const (
	tableGrants        = "oauth_grants"
	tableGrantRequests = "oauth_grant_requests"
)

// grantsMigration is version 8: the grants API's tables (new tables only).
var grantsMigration = migration{
	version: 8,
	name:    "grants and their requests",
	stmts: []string{
		`CREATE TABLE ` + tableGrants + ` (
			id TEXT PRIMARY KEY,
			subject TEXT NOT NULL,
			client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
			resources TEXT NOT NULL DEFAULT '[]',
			scopes TEXT NOT NULL DEFAULT '[]',
			first_granted_at {{TIME}} NOT NULL,
			last_used_at {{TIME}} NOT NULL,
			token_expires_at {{TIME}},
			consent_expires_at {{TIME}},
			client_fingerprint TEXT NOT NULL DEFAULT '',
			expires_at {{TIME}}
		)`,
		`CREATE INDEX ` + tableGrants + `_subject_idx ON ` + tableGrants + ` (subject, id)`,
		`CREATE INDEX ` + tableGrants + `_client_id_idx ON ` + tableGrants + ` (client_id, id)`,
		`CREATE INDEX ` + tableGrants + `_expires_at_idx ON ` + tableGrants + ` (expires_at)`,
		`CREATE TABLE ` + tableGrantRequests + ` (
			request_id TEXT PRIMARY KEY,
			grant_id TEXT NOT NULL REFERENCES ` + tableGrants + `(id) ON DELETE CASCADE,
			created_at {{TIME}} NOT NULL
		)`,
		`CREATE INDEX ` + tableGrantRequests + `_grant_id_idx ON ` + tableGrantRequests + ` (grant_id)`,
		`CREATE INDEX ` + tableGrantRequests + `_created_at_idx ON ` + tableGrantRequests + ` (created_at)`,
	},
}

var _ provider.GrantStore = (*Store)(nil)

// grantRow is a row of oauth_grants.
type grantRow struct {
	ID                string     `gorm:"column:id;primaryKey"`
	Subject           string     `gorm:"column:subject"`
	ClientID          string     `gorm:"column:client_id"`
	Resources         string     `gorm:"column:resources"`
	Scopes            string     `gorm:"column:scopes"`
	FirstGrantedAt    time.Time  `gorm:"column:first_granted_at"`
	LastUsedAt        time.Time  `gorm:"column:last_used_at"`
	TokenExpiresAt    *time.Time `gorm:"column:token_expires_at"`
	ConsentExpiresAt  *time.Time `gorm:"column:consent_expires_at"`
	ClientFingerprint string     `gorm:"column:client_fingerprint"`
	ExpiresAt         *time.Time `gorm:"column:expires_at"`
	ClientName        string     `gorm:"column:client_name;->"` // read only, from the join
}

// grantID is the key of the grant of subject, client and resources (order-insensitive).
func grantID(subject, clientID string, resources []string) (string, string) {
	rs := slices.Clone(resources)
	slices.Sort(rs)
	rs = slices.Compact(rs)
	h := sha256.New()
	for _, part := range append([]string{subject, clientID}, rs...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), encodeList(rs)
}

// laterOf returns the later of a and b, where nil means never (later than any time).
func laterOf(a, b *time.Time) *time.Time {
	if a == nil || b == nil {
		return nil
	}
	if a.After(*b) {
		return a
	}
	return b
}

// rowExpiry is when a grant row may be purged: when its tokens expired and its consent is
// no longer remembered (nil: never).
func rowExpiry(tokens, consent *time.Time) *time.Time {
	if consent != nil && (tokens == nil || consent.Before(*tokens)) {
		return tokens
	}
	if consent != nil {
		return consent
	}
	return tokens
}

// readCommitted runs fn in a transaction of its own with writeTxOptions. fn's error is
// returned as is (fn maps its own errors); BEGIN's and COMMIT's are mapped.
func (s *Store) readCommitted(ctx context.Context, fn func(db *gorm.DB) error) error {
	return s.newTx(ctx, s.writeTxOptions(), fn)
}

// grantStatements are RecordGrant's and IssueCode's statements. Every authorization runs
// some of them (on PostgreSQL issueCode alone), so they are hot statements, prepared once
// per connection (see hotsql.go), not GORM builder calls.
type grantStatements struct {
	get           string // the grant's mutable columns
	insert        string // a new grant; nothing when a concurrent approval created it first
	update        string // the grant's mutable columns
	insertRequest string // the approval's request; nothing when it is recorded already
	// PostgreSQL (empty elsewhere): the approval in one statement, the grant's upsert
	// (grantUpsertSQL) and its request's insert, with newGrantArgs then the request's ID
	// and time as arguments; issueCode is the same after a code's insert (sessionColumns'
	// arguments first, see IssueCode).
	upsert, issueCode string
}

func newGrantStatements(d dialect) grantStatements {
	g := grantStatements{
		get:    rebind(d, "SELECT scopes, token_expires_at, consent_expires_at, client_fingerprint FROM "+tableGrants+" WHERE id = ?"),
		insert: rebind(d, "INSERT INTO "+tableGrants+" ("+grantColumns+") VALUES ("+placeholders(11)+") ON CONFLICT (id) DO NOTHING"),
		update: rebind(d, "UPDATE "+tableGrants+" SET scopes = ?, token_expires_at = ?, consent_expires_at = ?, client_fingerprint = ?, "+
			"expires_at = ? WHERE id = ?"),
		// A request recorded again (a device code polled concurrently) stays where it is.
		insertRequest: rebind(d, "INSERT INTO "+tableGrantRequests+" (request_id, grant_id, created_at) VALUES (?, ?, ?) "+
			"ON CONFLICT (request_id) DO NOTHING"),
	}
	if d == dialectPostgres {
		linked := "g AS (" + grantUpsertSQL + " RETURNING g.id) INSERT INTO " + tableGrantRequests +
			" (request_id, grant_id, created_at) SELECT ?, id, ? FROM g ON CONFLICT (request_id) DO NOTHING"
		g.upsert = rebind(d, "WITH "+linked)
		g.issueCode = rebind(d, "WITH code AS (INSERT INTO "+tableCodes+" ("+sessionColumns+") VALUES ("+placeholders(9)+")), "+linked)
	}
	return g
}

// grantColumns are the columns newGrantArgs gives, in its order.
const grantColumns = "id, subject, client_id, resources, scopes, first_granted_at, last_used_at, " +
	"token_expires_at, consent_expires_at, client_fingerprint, expires_at"

// grantUpsertSQL is grantState.merge as one PostgreSQL statement: the grant as a first
// approval creates it (newGrantArgs), or, when it exists, the approval merged into it
// under its row lock (no read before, so no round trip for it, and under READ COMMITTED a
// concurrent approval waits for this one and merges into its result). EXCLUDED is the
// approval; it remembers consent when EXCLUDED.consent_expires_at is set. Its scopes are
// appended to the grant's (those of another client fingerprint dropped when it remembers),
// each once, in order; the later of two token expiries wins (NULL: never); the grant row
// expires at the later of its tokens' and its consent's expiry (grantState, rowExpiry).
// Its tests are the grant merge tests run on PostgreSQL (TestRecordGrant_Merge).
const grantUpsertSQL = "INSERT INTO " + tableGrants + " AS g (" + grantColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) " +
	"ON CONFLICT (id) DO UPDATE SET " +
	"scopes = COALESCE((SELECT '[' || string_agg(to_json(m.s)::text, ',' ORDER BY m.part, m.k) || ']' FROM (" +
	"SELECT DISTINCT ON (u.s) u.s, u.part, u.k FROM (" +
	"SELECT o.s, 0 AS part, o.k FROM json_array_elements_text((CASE WHEN " + upsertRemembers +
	" AND EXCLUDED.client_fingerprint <> g.client_fingerprint THEN '[]' ELSE g.scopes END)::json) WITH ORDINALITY AS o(s, k) " +
	"UNION ALL SELECT n.s, 1, n.k FROM json_array_elements_text(EXCLUDED.scopes::json) WITH ORDINALITY AS n(s, k)" +
	") AS u ORDER BY u.s, u.part, u.k) AS m), '[]'), " +
	"token_expires_at = " + upsertTokens + ", " +
	"consent_expires_at = " + upsertConsent + ", " +
	"client_fingerprint = CASE WHEN " + upsertRemembers + " THEN EXCLUDED.client_fingerprint ELSE g.client_fingerprint END, " +
	"expires_at = CASE WHEN " + upsertConsent + " IS NULL THEN " + upsertTokens + " WHEN " + upsertTokens + " IS NULL THEN NULL " +
	"ELSE GREATEST(" + upsertTokens + ", " + upsertConsent + ") END"

// grantUpsertSQL's parts: whether the approval remembers consent, the merged token
// expiry (laterOf) and the merged consent.
const (
	upsertRemembers = "EXCLUDED.consent_expires_at IS NOT NULL"
	upsertTokens    = "(CASE WHEN g.token_expires_at IS NULL OR EXCLUDED.token_expires_at IS NULL THEN NULL " +
		"ELSE GREATEST(g.token_expires_at, EXCLUDED.token_expires_at) END)"
	upsertConsent = "COALESCE(EXCLUDED.consent_expires_at, g.consent_expires_at)"
)

// all returns every statement of g.
func (g grantStatements) all() []string {
	qs := []string{g.get, g.insert, g.update, g.insertRequest}
	if g.upsert != "" {
		qs = append(qs, g.upsert, g.issueCode)
	}
	return qs
}

// grantState is what an approval changes on a grant row.
type grantState struct {
	scopes      []string
	tokens      *time.Time // when the newest tokens expire; nil: never
	consent     *time.Time // until when consent is remembered; nil: not remembered
	fingerprint string     // the client's fingerprint when consent was remembered
}

// merge adds the approval rec to g.
func (g *grantState) merge(rec provider.GrantRecord) {
	if !rec.RememberUntil.IsZero() && rec.ClientFingerprint != g.fingerprint {
		g.scopes = nil // consent given to another version of the client is not carried over
	}
	for _, sc := range rec.Scopes {
		if !slices.Contains(g.scopes, sc) {
			g.scopes = append(g.scopes, sc)
		}
	}
	g.tokens = laterOf(g.tokens, optTime(rec.ExpiresAt))
	if !rec.RememberUntil.IsZero() {
		g.consent, g.fingerprint = optTime(rec.RememberUntil), rec.ClientFingerprint
	}
}

// RecordGrant implements provider.GrantStore: inside ctx's transaction when it carries one
// (IssueCode's, when its approval cannot be one statement), else on its own: on
// PostgreSQL one statement (grantUpsertSQL), on SQLite a transaction.
func (s *Store) RecordGrant(ctx context.Context, rec provider.GrantRecord) error {
	if err := checkGrantRecord(rec); err != nil {
		return err
	}
	if tx := s.openGormTx(ctx); tx != nil {
		return s.recordGrant(ctx, tx.Statement.ConnPool, rec)
	}
	if s.hot.grants.upsert != "" {
		return s.recordGrant(ctx, s.db.Statement.ConnPool, rec) // one statement needs no transaction
	}
	return s.readCommitted(ctx, func(db *gorm.DB) error { return s.recordGrant(ctx, db.Statement.ConnPool, rec) })
}

// checkGrantRecord refuses a GrantRecord that names no grant, or a scope that the two
// merges could not store alike: invalid UTF-8 (Go's JSON writes U+FFFD, so the merge in Go
// would add it again at every approval) or NUL (PostgreSQL's JSON functions refuse it,
// which would fail every later approval of the grant). The endpoints send only RFC 6749
// scope tokens.
func checkGrantRecord(rec provider.GrantRecord) error {
	if rec.RequestID == "" || rec.Subject == "" || rec.ClientID == "" {
		return errors.New("gormstore: RecordGrant needs a request ID, subject and client ID")
	}
	if !storableText(rec.Subject) || !storableText(rec.ClientID) {
		return fmt.Errorf("gormstore: RecordGrant: subject %q or client ID %q is not valid UTF-8 without NUL", rec.Subject, rec.ClientID)
	}
	for _, sc := range rec.Scopes {
		if !storableText(sc) {
			return fmt.Errorf("gormstore: RecordGrant: scope %q is not valid UTF-8 without NUL", sc)
		}
	}
	return nil
}

// newGrantArgs returns the ID of rec's grant and the values of grantColumns for it as rec
// creates it: rec merged into an empty grant.
func newGrantArgs(rec provider.GrantRecord) (string, []any) {
	id, resources := grantID(rec.Subject, rec.ClientID, rec.Resources)
	at := dbTime(rec.At)
	st := grantState{tokens: optTime(rec.ExpiresAt)}
	st.merge(rec)
	return id, []any{id, rec.Subject, rec.ClientID, resources, encodeList(st.scopes), at, at,
		timeOrNil(st.tokens), timeOrNil(st.consent), st.fingerprint, timeOrNil(rowExpiry(st.tokens, st.consent))}
}

// recordGrant is RecordGrant's work on pool, a transaction (or, on PostgreSQL, where it
// is one statement, the pool): the grant is read, then inserted or updated, and the
// request linked to it; on PostgreSQL all of it is grantUpsertSQL's statement. Errors are
// mapped.
func (s *Store) recordGrant(ctx context.Context, pool gorm.ConnPool, rec provider.GrantRecord) error {
	id, args := newGrantArgs(rec)
	at := dbTime(rec.At)
	if q := s.hot.grants.upsert; q != "" {
		_, err := s.exec(ctx, pool, q, append(args, rec.RequestID, at)...)
		return s.mapErr(err)
	}
	st, found, err := s.grantState(ctx, pool, id)
	if err != nil {
		return err
	}
	if !found {
		n, err := s.exec(ctx, pool, s.hot.grants.insert, args...)
		if err != nil {
			return s.mapErr(err)
		}
		if n == 0 { // a concurrent approval created it: update that row
			if st, found, err = s.grantState(ctx, pool, id); err != nil {
				return err
			}
		}
	}
	if found {
		st.merge(rec)
		if _, err := s.exec(ctx, pool, s.hot.grants.update, encodeList(st.scopes), timeOrNil(st.tokens), timeOrNil(st.consent),
			st.fingerprint, timeOrNil(rowExpiry(st.tokens, st.consent)), id); err != nil {
			return s.mapErr(err)
		}
	}
	_, err = s.exec(ctx, pool, s.hot.grants.insertRequest, rec.RequestID, id, at)
	return s.mapErr(err)
}

// grantState reads the mutable columns of grant id on pool; found is false when there is
// no such grant.
func (s *Store) grantState(ctx context.Context, pool gorm.ConnPool, id string) (st grantState, found bool, err error) {
	var (
		scopes          string
		tokens, consent sql.NullTime
	)
	err = s.queryRow(ctx, pool, s.hot.grants.get, []any{id}, &scopes, &tokens, &consent, &st.fingerprint)
	if errors.Is(err, fosite.ErrNotFound) {
		return grantState{}, false, nil
	}
	if err != nil {
		return grantState{}, false, err
	}
	if st.scopes, err = decodeList(scopes); err != nil {
		return grantState{}, false, err
	}
	st.tokens, st.consent = nullTime(tokens), nullTime(consent)
	return st, true, nil
}

// TouchGrant implements provider.GrantStore with one UPDATE (a code exchange or refresh
// writes anyway; bearer checks never call it), a hot-path statement prepared once per
// connection. With ctx's open transaction (the provider records the use in the
// transaction that issued the tokens) it runs inside it on SQLite, whose writers are
// serialized at BEGIN IMMEDIATE anyway: one commit per token request. On PostgreSQL it
// runs once that transaction has committed, on its own: inside a REPEATABLE READ
// transaction, two token requests of one grant (two sessions of one user and client)
// would conflict on the grant's row. A failure then is logged, as the provider does.
func (s *Store) TouchGrant(ctx context.Context, requestID string, at, expiresAt time.Time) error {
	if s.dialect == dialectPostgres {
		if st := openTx(ctx); st != nil {
			st.mu.Lock()
			st.afterCommit = append(st.afterCommit, func(ctx context.Context) error {
				if err := s.touchGrant(ctx, s.db.Statement.ConnPool, requestID, at, expiresAt); err != nil {
					s.log.WarnContext(ctx, "recording grant use", "error", err)
				}
				return nil
			})
			st.mu.Unlock()
			return nil
		}
	}
	return s.touchGrant(ctx, s.pool(ctx), requestID, at, expiresAt)
}

// touchGrant is TouchGrant's UPDATE on pool.
func (s *Store) touchGrant(ctx context.Context, pool gorm.ConnPool, requestID string, at, expiresAt time.Time) error {
	q := s.hot.touchGrant
	if expiresAt.IsZero() {
		q = s.hot.touchGrantNoExpiry
	}
	_, err := s.exec(ctx, pool, q, touchGrantArgs(requestID, at, expiresAt)...)
	return s.mapErr(err)
}

func (s *Store) grantQuery(db *gorm.DB) *gorm.DB {
	return db.Table(tableGrants+" g").
		Select("g.*, c.name AS client_name").
		Joins("JOIN "+tableClients+" c ON c.id = g.client_id").
		Where("g.expires_at IS NULL OR g.expires_at > ?", dbTime(s.now()))
}

// GetGrant implements provider.GrantStore.
func (s *Store) GetGrant(ctx context.Context, subject, clientID string, resources []string) (*provider.StoredGrant, error) {
	id, _ := grantID(subject, clientID, resources)
	var row grantRow
	if err := s.grantQuery(s.reader(ctx)).Where("g.id = ?", id).Take(&row).Error; err != nil {
		return nil, s.mapErr(err)
	}
	return row.toGrant()
}

// ListGrants implements provider.GrantStore: keyset pagination on the grant ID, through
// the (subject, id) or (client_id, id) index.
func (s *Store) ListGrants(ctx context.Context, f provider.GrantFilter, cursor string, limit int) ([]provider.StoredGrant, string, error) {
	if f.Subject == "" && f.ClientID == "" {
		return nil, "", errors.New("gormstore: ListGrants needs a subject or a client ID")
	}
	if matchesNoGrant(f) {
		return nil, "", nil
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) != sha256.Size {
			return nil, "", provider.ErrInvalidGrantCursor
		}
		after = hex.EncodeToString(b)
	}
	limit = max(limit, 1)
	var rows []grantRow
	q := filterGrants(s.grantQuery(s.reader(ctx)), f, "g.")
	if after != "" {
		q = q.Where("g.id > ?", after)
	}
	if err := q.Order("g.id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", s.mapErr(err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		b, _ := hex.DecodeString(rows[limit-1].ID)
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	out := make([]provider.StoredGrant, 0, len(rows))
	for i := range rows {
		g, err := rows[i].toGrant()
		if err != nil {
			return nil, "", err
		}
		out = append(out, *g)
	}
	return out, next, nil
}

// matchesNoGrant reports whether f names a subject, client or grant no grant can have
// (see storableText): a lookup by it finds nothing rather than failing on PostgreSQL.
func matchesNoGrant(f provider.GrantFilter) bool {
	return !storableText(f.Subject) || !storableText(f.ClientID) || !storableText(f.ID)
}

func filterGrants(q *gorm.DB, f provider.GrantFilter, prefix string) *gorm.DB {
	if f.Subject != "" {
		q = q.Where(prefix+"subject = ?", f.Subject)
	}
	if f.ClientID != "" {
		q = q.Where(prefix+"client_id = ?", f.ClientID)
	}
	if f.ID != "" {
		q = q.Where(prefix+"id = ?", f.ID)
	}
	return q
}

// RevokeGrants implements provider.GrantStore. It first revokes the tokens of every
// request of the matching grants — codes deactivated and approved device codes denied
// (waiting on PostgreSQL for a code exchange or poll in flight, whose tokens the next step
// then sees), then each request's refresh and access tokens through RevokeRefreshToken's
// path, which also covers a refresh in flight — and only then deletes the grants and the
// requests it revoked, so that a failure half-way leaves the grant listed for another try.
// A grant that gained a request meanwhile (a new approval) keeps it, without its
// remembered consent.
func (s *Store) RevokeGrants(ctx context.Context, f provider.GrantFilter) (int, error) {
	if f.Subject == "" && f.ClientID == "" {
		return 0, errors.New("gormstore: RevokeGrants needs a subject or a client ID")
	}
	if matchesNoGrant(f) {
		return 0, nil
	}
	var ids []string
	if err := filterGrants(s.conn(ctx).Table(tableGrants), f, "").Pluck("id", &ids).Error; err != nil {
		return 0, s.mapErr(err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var requests []string
	if err := s.conn(ctx).Table(tableGrantRequests).Where("grant_id IN ?", ids).Pluck("request_id", &requests).Error; err != nil {
		return 0, s.mapErr(err)
	}
	for _, rid := range requests {
		if err := s.conn(ctx).Exec("UPDATE "+tableCodes+" SET active = ? WHERE request_id = ?", false, rid).Error; err != nil {
			return 0, s.mapErr(err)
		}
		// An approved device code not yet redeemed: its next poll gets access_denied (a
		// poll redeeming it at this moment wins the row first, and its tokens are revoked
		// next).
		if err := s.conn(ctx).Exec("UPDATE "+tableDevice+" SET status = ? WHERE request_id = ? AND status = ?",
			string(provider.DeviceStatusDenied), rid, string(provider.DeviceStatusApproved)).Error; err != nil {
			return 0, s.mapErr(err)
		}
		if err := s.revokeOwnTx(ctx, rid, true); err != nil {
			return 0, err
		}
	}
	err := s.readCommitted(ctx, func(db *gorm.DB) error {
		if s.dialect == dialectPostgres {
			// Wait here for approvals in flight (they hold the grant's row lock), so that
			// the statements below, each with a snapshot of its own, see the requests they
			// linked: a DELETE that waited for the lock itself would recheck its row with
			// its older snapshot, find no request, delete the grant and cascade away the
			// new request's link, leaving an active code that no grant knows.
			var locked []string
			if err := db.Raw("SELECT id FROM "+tableGrants+" WHERE id IN ? ORDER BY id FOR UPDATE", ids).Scan(&locked).Error; err != nil {
				return s.mapErr(err)
			}
		}
		for chunk := range slices.Chunk(requests, 500) {
			if err := db.Exec("DELETE FROM "+tableGrantRequests+" WHERE request_id IN ?", chunk).Error; err != nil {
				return s.mapErr(err)
			}
		}
		if err := db.Exec("DELETE FROM "+tableGrants+" WHERE id IN ? AND NOT EXISTS (SELECT 1 FROM "+tableGrantRequests+
			" r WHERE r.grant_id = "+tableGrants+".id)", ids).Error; err != nil {
			return s.mapErr(err)
		}
		return s.mapErr(db.Exec("UPDATE "+tableGrants+" SET consent_expires_at = NULL, expires_at = token_expires_at WHERE id IN ?", ids).Error)
	})
	if err != nil {
		return 0, err
	}
	return len(ids), nil
}

func (r *grantRow) toGrant() (*provider.StoredGrant, error) {
	scopes, err := decodeList(r.Scopes)
	if err != nil {
		return nil, err
	}
	resources, err := decodeList(r.Resources)
	if err != nil {
		return nil, err
	}
	g := &provider.StoredGrant{
		Grant: provider.Grant{
			ID:             strings.Clone(r.ID),
			Subject:        r.Subject,
			ClientID:       r.ClientID,
			ClientName:     r.ClientName,
			Scopes:         scopes,
			Resources:      resources,
			FirstGrantedAt: r.FirstGrantedAt.UTC(),
			LastUsedAt:     r.LastUsedAt.UTC(),
		},
		ClientFingerprint: r.ClientFingerprint,
	}
	if r.TokenExpiresAt != nil {
		g.ExpiresAt = r.TokenExpiresAt.UTC()
	}
	if r.ConsentExpiresAt != nil {
		g.ConsentRememberedUntil = r.ConsentExpiresAt.UTC()
	}
	return g, nil
}

// purgeGrantRequests deletes up to purgeBatch requests older than cutoff that hold no code,
// device authorization, access token or refresh token any more (Purge deleted them, or
// they were never issued). An approved device authorization keeps its request until it
// expires: revoking the grant finds its device code through it.
func (s *Store) purgeGrantRequests(ctx context.Context, cutoff time.Time) (int64, error) {
	none := func(t string) string {
		return " AND NOT EXISTS (SELECT 1 FROM " + t + " t WHERE t.request_id = r.request_id)"
	}
	res := s.db.WithContext(ctx).Exec("DELETE FROM "+tableGrantRequests+" WHERE request_id IN (SELECT r.request_id FROM "+
		tableGrantRequests+" r WHERE r.created_at < ?"+none(tableCodes)+none(tableDevice)+none(tableAccess)+none(tableRefresh)+" LIMIT ?)",
		dbTime(cutoff), purgeBatch)
	return res.RowsAffected, s.mapErr(res.Error)
}
