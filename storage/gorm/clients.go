package gormstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

var _ provider.ClientCompareAndSwapper = (*Store)(nil)

// clientRow is a row of oauth_clients. Lists are JSON arrays in TEXT columns.
type clientRow struct {
	ID                          string     `gorm:"column:id;primaryKey"`
	SecretHash                  []byte     `gorm:"column:secret_hash"`
	SecretExpiresAt             *time.Time `gorm:"column:secret_expires_at"`
	Public                      bool       `gorm:"column:public"`
	TokenEndpointAuthMethod     string     `gorm:"column:token_endpoint_auth_method"`
	RedirectURIs                string     `gorm:"column:redirect_uris"`
	GrantTypes                  string     `gorm:"column:grant_types"`
	ResponseTypes               string     `gorm:"column:response_types"`
	Scopes                      string     `gorm:"column:scopes"`
	Audience                    string     `gorm:"column:audience"`
	Contacts                    string     `gorm:"column:contacts"`
	ApplicationType             string     `gorm:"column:application_type"`
	Name                        string     `gorm:"column:name"`
	URI                         string     `gorm:"column:uri"`
	LogoURI                     string     `gorm:"column:logo_uri"`
	PolicyURI                   string     `gorm:"column:policy_uri"`
	TOSURI                      string     `gorm:"column:tos_uri"`
	SoftwareID                  string     `gorm:"column:software_id"`
	SoftwareVersion             string     `gorm:"column:software_version"`
	Source                      string     `gorm:"column:source"`
	RegistrationAccessTokenHash []byte     `gorm:"column:registration_access_token_hash"`
	CreatedAt                   time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt                   time.Time  `gorm:"column:updated_at;autoUpdateTime:false"`
	LastUsedAt                  *time.Time `gorm:"column:last_used_at"`
	JWKS                        string     `gorm:"column:jwks"`
	TokenEndpointAuthSigningAlg string     `gorm:"column:token_endpoint_auth_signing_alg"`
	JWKSURI                     string     `gorm:"column:jwks_uri"`
}

// clientJWKSURIMigration adds the jwks_uri of private_key_jwt clients that publish their
// keys at a URL (RFC 7591 jwks_uri) instead of inline in the jwks column; empty for
// every other client.
var clientJWKSURIMigration = migration{
	version: 7,
	name:    "client jwks_uri for private_key_jwt",
	stmts: []string{
		`ALTER TABLE ` + tableClients + ` ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT ''`,
	},
}

// encodeList stores a string list as a JSON array ("[]" for nil). It leaves <, > and &
// unescaped, as PostgreSQL's to_json does, so that a grant's scopes merged in SQL there
// (grantUpsertSQL) and in Go on SQLite are stored as the same text.
func encodeList(l []string) string {
	if l == nil {
		return "[]"
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(l) // a []string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// decodeList reads a JSON array column; "[]" gives nil, like a client that never had the list.
func decodeList(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("gormstore: decode list column: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func rowFromClient(c *provider.Client, created, updated time.Time) *clientRow {
	return &clientRow{
		ID:                          c.ID,
		SecretHash:                  copyBytes(c.SecretHash),
		SecretExpiresAt:             optTime(c.SecretExpiresAt),
		Public:                      c.Public,
		TokenEndpointAuthMethod:     c.TokenEndpointAuthMethod,
		RedirectURIs:                encodeList(c.RedirectURIs),
		GrantTypes:                  encodeList(c.GrantTypes),
		ResponseTypes:               encodeList(c.ResponseTypes),
		Scopes:                      encodeList(c.Scopes),
		Audience:                    encodeList(c.Audience),
		Contacts:                    encodeList(c.Contacts),
		ApplicationType:             c.ApplicationType,
		Name:                        c.Name,
		URI:                         c.URI,
		LogoURI:                     c.LogoURI,
		PolicyURI:                   c.PolicyURI,
		TOSURI:                      c.TOSURI,
		SoftwareID:                  c.SoftwareID,
		SoftwareVersion:             c.SoftwareVersion,
		Source:                      string(c.Source),
		RegistrationAccessTokenHash: copyBytes(c.RegistrationAccessTokenHash),
		CreatedAt:                   dbTime(created),
		UpdatedAt:                   dbTime(updated),
		LastUsedAt:                  optTime(c.LastUsedAt),
		JWKS:                        encodeJWKS(c.JWKS),
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg,
		JWKSURI:                     c.JWKSURI,
	}
}

// encodeJWKS stores a client's key set as JWKS JSON ("" for none).
func encodeJWKS(set *jose.JSONWebKeySet) string {
	if set == nil {
		return ""
	}
	b, err := json.Marshal(set)
	if err != nil { // only keys go-jose cannot serialise; provider.ValidateClientJWKS admits none
		return ""
	}
	return string(b)
}

// decodeJWKS reads the jwks column; "" gives nil.
func decodeJWKS(s string) (*jose.JSONWebKeySet, error) {
	if s == "" {
		return nil, nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(s), &set); err != nil {
		return nil, fmt.Errorf("gormstore: decode jwks column: %w", err)
	}
	return &set, nil
}

func (r *clientRow) toClient() (*provider.Client, error) {
	c := &provider.Client{
		ID:                          r.ID,
		SecretHash:                  r.SecretHash,
		Public:                      r.Public,
		TokenEndpointAuthMethod:     r.TokenEndpointAuthMethod,
		ApplicationType:             r.ApplicationType,
		Name:                        r.Name,
		URI:                         r.URI,
		LogoURI:                     r.LogoURI,
		PolicyURI:                   r.PolicyURI,
		TOSURI:                      r.TOSURI,
		SoftwareID:                  r.SoftwareID,
		SoftwareVersion:             r.SoftwareVersion,
		Source:                      provider.ClientSource(r.Source),
		RegistrationAccessTokenHash: r.RegistrationAccessTokenHash,
		CreatedAt:                   r.CreatedAt.UTC(),
		UpdatedAt:                   r.UpdatedAt.UTC(),
		TokenEndpointAuthSigningAlg: r.TokenEndpointAuthSigningAlg,
		JWKSURI:                     r.JWKSURI,
	}
	keys, err := decodeJWKS(r.JWKS)
	if err != nil {
		return nil, err
	}
	c.JWKS = keys
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	if len(c.RegistrationAccessTokenHash) == 0 {
		c.RegistrationAccessTokenHash = nil
	}
	if r.SecretExpiresAt != nil {
		c.SecretExpiresAt = r.SecretExpiresAt.UTC()
	}
	if r.LastUsedAt != nil {
		c.LastUsedAt = r.LastUsedAt.UTC()
	}
	for _, l := range []struct {
		dst *[]string
		src string
	}{
		{&c.RedirectURIs, r.RedirectURIs},
		{&c.GrantTypes, r.GrantTypes},
		{&c.ResponseTypes, r.ResponseTypes},
		{&c.Scopes, r.Scopes},
		{&c.Audience, r.Audience},
		{&c.Contacts, r.Contacts},
	} {
		v, err := decodeList(l.src)
		if err != nil {
			return nil, err
		}
		*l.dst = v
	}
	return c, nil
}

// GetClient implements fosite.ClientManager: the stored *provider.Client, or fosite.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.LoadClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// storableText reports whether s is stored, and so found, alike on both databases: valid
// UTF-8 without NUL. PostgreSQL's text columns refuse anything else (SQLSTATE 22021) where
// SQLite keeps it, so such a value is refused on the way in and finds nothing on the way
// out, on either database, rather than failing on PostgreSQL alone.
func storableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// LoadClient implements provider.ClientStore: the stored client, or fosite.ErrNotFound.
// Clients are served from a short-lived cache (Options.ClientCacheTTL); the result is the
// caller's to modify.
func (s *Store) LoadClient(ctx context.Context, id string) (*provider.Client, error) {
	if !storableText(id) {
		return nil, fosite.ErrNotFound // no client has it (CreateClient refuses it)
	}
	cache := s.clientCacheFor(ctx, id)
	var gen uint64
	if cache != nil {
		var c *provider.Client
		if c, gen = cache.get(id); c != nil {
			return c, nil
		}
	}
	row, err := s.selectClient(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := row.toClient()
	if err != nil {
		return nil, err
	}
	if cache != nil {
		cache.put(c, gen)
	}
	return c, nil
}

// CreateClient implements provider.ClientStore. The client is stored as given (SecretHash must
// already be a hash); a zero CreatedAt/UpdatedAt becomes the current time. A taken ID yields
// provider.ErrClientExists.
func (s *Store) CreateClient(ctx context.Context, c *provider.Client) error {
	if c == nil || c.ID == "" {
		return errors.New("gormstore: client without ID")
	}
	if !storableText(c.ID) {
		return fmt.Errorf("gormstore: client ID %q is not valid UTF-8 without NUL", c.ID)
	}
	now := s.now()
	created, updated := c.CreatedAt, c.UpdatedAt
	if created.IsZero() {
		created = now
	}
	if updated.IsZero() {
		updated = created
	}
	// Outside a transaction the committed row is cached at once: a new client's first
	// authorization request follows its registration, and would otherwise read it back.
	// The generation is taken before the write, so that a deletion racing it wins.
	cache := s.clientCacheFor(ctx, c.ID)
	var gen uint64
	if cache != nil && s.openGormTx(ctx) == nil {
		_, gen = cache.get(c.ID)
	} else {
		cache = nil
	}
	row := rowFromClient(c, created, updated)
	n, err := s.exec(ctx, s.pool(ctx), s.hot.insertClient, row.values()...)
	if err != nil {
		if isConflict(err) {
			return fmt.Errorf("%w: %w", provider.ErrClientExists, err)
		}
		return s.mapErr(err)
	}
	if n == 0 {
		return provider.ErrClientExists
	}
	if cache != nil {
		if stored, err := row.toClient(); err == nil { // the client as LoadClient reads it back
			cache.put(stored, gen)
		}
	}
	return nil
}

// UpdateClient implements provider.ClientStore: it replaces every stored field except the
// creation and last-use times; a zero UpdatedAt becomes the current time. fosite.ErrNotFound when absent.
func (s *Store) UpdateClient(ctx context.Context, c *provider.Client) error {
	return s.updateClient(ctx, c, nil)
}

// UpdateClientIfRegistrationToken implements provider.ClientCompareAndSwapper: UpdateClient in
// one statement with the condition that the stored registration access token hash is still
// oldHash (UPDATE … WHERE id = ? AND registration_access_token_hash = ?). Of concurrent updates
// presenting the same token exactly one succeeds; the others, and an absent client or an empty
// oldHash, get fosite.ErrNotFound.
func (s *Store) UpdateClientIfRegistrationToken(ctx context.Context, c *provider.Client, oldHash []byte) error {
	if len(oldHash) == 0 {
		return fosite.ErrNotFound
	}
	return s.updateClient(ctx, c, oldHash)
}

// updateClient replaces the stored client c, only while its registration access token hash
// equals oldHash when that is not nil.
func (s *Store) updateClient(ctx context.Context, c *provider.Client, oldHash []byte) error {
	defer s.tokensChanged(ctx)
	if c == nil || c.ID == "" {
		return errors.New("gormstore: client without ID")
	}
	updated := c.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	row := rowFromClient(c, time.Time{}, updated)
	q := s.conn(ctx).Table(tableClients).Where("id = ?", c.ID)
	if oldHash != nil {
		q = q.Where("registration_access_token_hash = ?", oldHash)
	}
	res := q.Select("*").Omit("id", "created_at", "last_used_at").Updates(row)
	s.forgetClient(ctx, c.ID)
	if res.Error != nil {
		return s.mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return fosite.ErrNotFound
	}
	return nil
}

// DeleteClient implements provider.ClientStore: it removes the client with its codes, tokens,
// PKCE sessions and pending authorizations in one transaction (explicitly, not only through the
// foreign keys' ON DELETE CASCADE). fosite.ErrNotFound when absent.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.tokensChanged(ctx)
	defer s.forgetClient(ctx, id) // after the commit of inTx's own transaction
	return s.inTx(ctx, func(db *gorm.DB) error {
		s.forgetClient(ctx, id)
		for _, t := range []string{tableCodes, tableAccess, tableRefresh, tablePKCE, tablePending, tableGrants} {
			if err := db.Exec("DELETE FROM "+t+" WHERE client_id = ?", id).Error; err != nil {
				return s.mapErr(err)
			}
		}
		res := db.Exec("DELETE FROM "+tableClients+" WHERE id = ?", id)
		if res.Error != nil {
			return s.mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return fosite.ErrNotFound
		}
		return nil
	})
}

// DeleteClientIfRegistrationToken implements provider.ClientCompareAndSwapper: DeleteClient
// with the condition that the stored registration access token hash is still oldHash, checked
// by the client row's DELETE, which runs first; when it matches no row (absent client, token
// rotated or client deleted meanwhile, empty oldHash) nothing is deleted and the result is
// fosite.ErrNotFound. On PostgreSQL the transaction is READ COMMITTED, so that a concurrent
// write to the row (an update, TouchClient) makes the DELETE re-check its condition on the new
// row rather than fail with a serialization error; inside a caller's transaction (BeginTX) it
// runs there.
func (s *Store) DeleteClientIfRegistrationToken(ctx context.Context, id string, oldHash []byte) error {
	if len(oldHash) == 0 {
		return fosite.ErrNotFound
	}
	return s.deleteClientIf(ctx, id, "registration_access_token_hash = ?", oldHash)
}

// deleteClientIf is DeleteClient with the condition cond (and its args) on the client's
// row, checked by that row's DELETE, which runs first: when it matches no row nothing is
// deleted and the result is fosite.ErrNotFound. It runs in ctx's transaction when there is
// one, else in one of its own, READ COMMITTED on PostgreSQL (see
// DeleteClientIfRegistrationToken).
func (s *Store) deleteClientIf(ctx context.Context, id, cond string, args ...any) error {
	defer s.forgetClient(ctx, id) // after the commit of the transaction below
	defer s.tokensChanged(ctx)
	del := func(db *gorm.DB) error {
		s.forgetClient(ctx, id)
		res := db.Exec("DELETE FROM "+tableClients+" WHERE id = ? AND "+cond, append([]any{id}, args...)...)
		if res.Error != nil {
			return s.mapErr(res.Error)
		}
		if res.RowsAffected == 0 {
			return fosite.ErrNotFound
		}
		// The foreign keys cascade; delete explicitly too, for databases opened without them.
		for _, t := range []string{tableCodes, tableAccess, tableRefresh, tablePKCE, tablePending, tableGrants} {
			if err := db.Exec("DELETE FROM "+t+" WHERE client_id = ?", id).Error; err != nil {
				return s.mapErr(err)
			}
		}
		return nil
	}
	if txFrom(ctx) != nil {
		return s.inTx(ctx, del)
	}
	return s.readCommitted(ctx, del)
}

// TouchClient records that the client obtained a token at at. It writes at most once a minute
// per client (LastUsedAt is accurate to a minute), so calling it on every token request is cheap.
// An unknown client is not an error.
// The cached client is forgotten, so that the next read sees the new LastUsedAt and the
// provider does not touch again for a minute.
func (s *Store) TouchClient(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, s.pool(ctx), s.hot.touchClient, touchClientArgs(id, at)...)
	s.forgetClient(ctx, id)
	return s.mapErr(err)
}

// ---- JWT assertion replay (fosite.ClientManager) ----

// ClientAssertionJWTValid implements fosite.ClientManager: fosite.ErrJTIKnown when jti was
// recorded and has not expired yet. Only a hash of the JTI is stored.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var n int64
	err := s.reader(ctx).Table(tableJTIs).Where("jti_hash = ? AND expires_at > ?", hashKey(jti), dbTime(s.now())).Count(&n).Error
	if err != nil {
		return s.mapErr(err)
	}
	if n > 0 {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager: it records jti until exp, atomically;
// fosite.ErrJTIKnown when it is already recorded and unexpired. An expired record is replaced.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	res := s.conn(ctx).Exec(
		"INSERT INTO "+tableJTIs+" (jti_hash, expires_at) VALUES (?, ?) "+
			"ON CONFLICT (jti_hash) DO UPDATE SET expires_at = excluded.expires_at WHERE "+tableJTIs+".expires_at <= ?",
		hashKey(jti), dbTime(exp), dbTime(s.now()))
	if res.Error != nil {
		if isConflict(res.Error) {
			return fmt.Errorf("%w: %w", fosite.ErrJTIKnown, res.Error)
		}
		return s.mapErr(res.Error)
	}
	if res.RowsAffected == 0 {
		return fosite.ErrJTIKnown
	}
	return nil
}

// ListUnusedClients returns up to limit IDs of dynamically registered clients
// (provider.ClientSourceDynamic) whose LastUsedAt, or CreatedAt when never used, is
// before cutoff and that hold nothing live (no live token or code, no pending
// authorization or device authorization: an old registration whose first login is under
// way stays), oldest first. It implements registration.UnusedClientLister, which
// registration.PruneUnusedClients uses to remove abandoned registrations.
func (s *Store) ListUnusedClients(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	return s.listUnusedClients(ctx, provider.ClientSourceDynamic, cutoff, limit)
}
