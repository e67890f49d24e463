package gormstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// sessionRow is a row of the code, access token, refresh token and PKCE tables.
type sessionRow struct {
	// Signature is the hex SHA-256 of fosite's signature.
	Signature   string     `gorm:"column:signature;primaryKey"`
	RequestID   string     `gorm:"column:request_id"`
	ClientID    string     `gorm:"column:client_id"`
	Subject     string     `gorm:"column:subject"`
	RequestedAt time.Time  `gorm:"column:requested_at"`
	ExpiresAt   *time.Time `gorm:"column:expires_at"`
	Active      bool       `gorm:"column:active"`
	KeyID       string     `gorm:"column:key_id"`
	Data        []byte     `gorm:"column:data"`
}

// refreshRow is a row of the refresh token table.
type refreshRow struct {
	Base sessionRow `gorm:"embedded"`
	// AccessSignature is the hex SHA-256 of the signature of the access token issued with it.
	AccessSignature string `gorm:"column:access_signature"`
	// FirstUsedAt is when the token was first presented for rotation; it opens the grace
	// window (provider.RefreshTokenGrace) and is cleared when the grant is revoked.
	FirstUsedAt *time.Time `gorm:"column:first_used_at"`
	// UsedCount counts uses of this token: its rotation and any reuses within the grace window.
	UsedCount int `gorm:"column:used_count"`
}

// dbTime normalizes a time for storage: UTC, microsecond precision (PostgreSQL's).
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := dbTime(t)
	return &v
}

// newSessionRow builds the row for req under the hashed signature; expiryType selects which
// of the session's expiry times becomes expires_at.
func (s *Store) newSessionRow(table, signature string, req fosite.Requester, expiryType fosite.TokenType) (*sessionRow, error) {
	if req == nil {
		return nil, errors.New("gormstore: nil requester")
	}
	client := req.GetClient()
	if client == nil || client.GetID() == "" {
		return nil, errors.New("gormstore: requester without client")
	}
	var subject string
	var expires time.Time
	if sess := req.GetSession(); sess != nil {
		subject = sess.GetSubject()
		expires = sess.GetExpiresAt(expiryType)
	}
	plain, err := encodeRequest(req)
	if err != nil {
		return nil, err
	}
	key := signatureKey(signature)
	keyID, data, err := s.keys.seal(plain, rowAD(table, key))
	if err != nil {
		return nil, err
	}
	requestedAt := req.GetRequestedAt()
	if requestedAt.IsZero() {
		requestedAt = s.now()
	}
	return &sessionRow{
		Signature:   key,
		RequestID:   req.GetID(),
		ClientID:    client.GetID(),
		Subject:     subject,
		RequestedAt: dbTime(requestedAt),
		ExpiresAt:   optTime(expires),
		Active:      true,
		KeyID:       keyID,
		Data:        data,
	}, nil
}

func (s *Store) createSession(ctx context.Context, table, signature string, req fosite.Requester, expiryType fosite.TokenType) error {
	row, err := s.newSessionRow(table, signature, req, expiryType)
	if err != nil {
		return err
	}
	return s.insertSession(ctx, table, row, "")
}

// getSession loads the row under signature and rebuilds the request, decoding the stored session
// into session when it is not nil, and re-loading the client.
func (s *Store) getSession(ctx context.Context, table, signature string, session fosite.Session) (*fosite.Request, *sessionRow, error) {
	row, err := s.selectSession(ctx, table, signatureKey(signature))
	if err != nil {
		return nil, nil, err
	}
	req, err := s.rowToRequest(ctx, table, &row.Base, session)
	if err != nil {
		return nil, nil, err
	}
	return req, &row.Base, nil
}

func (s *Store) rowToRequest(ctx context.Context, table string, row *sessionRow, session fosite.Session) (*fosite.Request, error) {
	plain, err := s.keys.open(row.KeyID, row.Data, rowAD(table, row.Signature))
	if err != nil {
		return nil, err
	}
	payload, err := decodeRequest(plain, session)
	if err != nil {
		return nil, err
	}
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, err
	}
	form := payload.form
	if form == nil {
		form = url.Values{}
	}
	return &fosite.Request{
		ID:                row.RequestID,
		RequestedAt:       row.RequestedAt.UTC(),
		Client:            client,
		RequestedScope:    nonNil(payload.requestedScope),
		GrantedScope:      nonNil(payload.grantedScope),
		RequestedAudience: nonNil(payload.requestedAudience),
		GrantedAudience:   nonNil(payload.grantedAudience),
		Form:              form,
		Session:           session,
	}, nil
}

func nonNil(a []string) fosite.Arguments {
	if a == nil {
		return fosite.Arguments{}
	}
	return a
}

// deleteSession removes the row under signature. Deleting what is absent is not an error:
// fosite deletes PKCE sessions and reused refresh tokens from concurrent requests.
func (s *Store) deleteSession(ctx context.Context, table, signature string) error {
	_, err := s.exec(ctx, s.pool(ctx), s.hot.deleteSession[table], signatureKey(signature))
	return s.mapErr(err)
}

// exists reports whether table has a row under the hashed key.
func exists(db *gorm.DB, table, column, key string) (bool, error) {
	var n int64
	if err := db.Table(table).Where(column+" = ?", key).Count(&n).Error; err != nil {
		return false, err
	}
	return n > 0, nil
}

// ---- authorization codes (oauth2.AuthorizeCodeStorage) ----

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createSession(ctx, tableCodes, signature, req, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A code that was already used
// yields the request together with fosite.ErrInvalidatedAuthorizeCode; an unknown one
// fosite.ErrNotFound. Expiry is left to fosite, which checks it from the session.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, row, err := s.getSession(ctx, tableCodes, signature, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage with a conditional write:
// of several concurrent calls for one code exactly one succeeds; the others get
// fosite.ErrInvalidatedAuthorizeCode (on PostgreSQL, a concurrent-update conflict is reported as an
// error matching both fosite.ErrInvalidatedAuthorizeCode and fosite.ErrSerializationFailure).
// An unknown code yields fosite.ErrNotFound.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	key := signatureKey(signature)
	n, err := s.exec(ctx, s.pool(ctx), s.hot.invalidate, false, key, true)
	if err != nil {
		if isConflict(err) {
			return fmt.Errorf("%w: %w: %w", fosite.ErrInvalidatedAuthorizeCode, fosite.ErrSerializationFailure, err)
		}
		return s.mapErr(err)
	}
	if n == 1 {
		return nil
	}
	found, err := exists(s.conn(ctx), tableCodes, "signature", key)
	if err != nil {
		return s.mapErr(err)
	}
	if !found {
		return fosite.ErrNotFound
	}
	return fosite.ErrInvalidatedAuthorizeCode
}

// ---- access tokens (oauth2.AccessTokenStorage) ----

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createSession(ctx, tableAccess, signature, req, fosite.AccessToken)
}

// CreateTokenSessions stores a token response's access token and the refresh token issued
// with it (CreateAccessTokenSession then CreateRefreshTokenSession, whose accessSignature is
// accessSignature), in ctx's transaction when it carries one. On PostgreSQL both rows go in
// one statement (a data-modifying CTE): one round trip instead of two. IssueTokens calls it
// when a token response's writes run one by one.
func (s *Store) CreateTokenSessions(ctx context.Context, accessSignature string, accessReq fosite.Requester, refreshSignature string, refreshReq fosite.Requester) error {
	if s.hot.insertTokenPair == "" {
		if err := s.CreateAccessTokenSession(ctx, accessSignature, accessReq); err != nil {
			return err
		}
		return s.CreateRefreshTokenSession(ctx, refreshSignature, accessSignature, refreshReq)
	}
	access, err := s.newSessionRow(tableAccess, accessSignature, accessReq, fosite.AccessToken)
	if err != nil {
		return err
	}
	refresh, err := s.newSessionRow(tableRefresh, refreshSignature, refreshReq, fosite.RefreshToken)
	if err != nil {
		return err
	}
	args := append(access.values(), refresh.values()...)
	_, err = s.exec(ctx, s.pool(ctx), s.hot.insertTokenPair, append(args, access.Signature)...)
	if isForeignKeyViolation(err) {
		// The client is gone (see insertSession).
		s.forgetClient(ctx, access.ClientID)
		if refresh.ClientID != access.ClientID {
			s.forgetClient(ctx, refresh.ClientID)
		}
	}
	return s.mapErr(err)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage: fosite.ErrNotFound for unknown,
// deleted or revoked tokens. Expiry is left to fosite, which checks it from the session.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, row, err := s.getSession(ctx, tableAccess, signature, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return nil, fosite.ErrNotFound
	}
	return req, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage; deleting an absent token is not an error.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	defer s.tokensChanged(ctx)
	return s.deleteSession(ctx, tableAccess, signature)
}

// ---- refresh tokens (oauth2.RefreshTokenStorage, oauth2.TokenRevocationStorage) ----

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage; accessSignature names the
// access token issued together with it (stored hashed).
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature string, accessSignature string, req fosite.Requester) error {
	row, err := s.newSessionRow(tableRefresh, signature, req, fosite.RefreshToken)
	if err != nil {
		return err
	}
	var access string
	if accessSignature != "" {
		access = signatureKey(accessSignature)
	}
	return s.insertSession(ctx, tableRefresh, row, access)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A rotated or revoked token
// yields the request together with fosite.ErrInactiveToken (fosite's reuse detection relies on
// it); an unknown one fosite.ErrNotFound. Expiry is left to fosite.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, row, err := s.getSession(ctx, tableRefresh, signature, session)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage; deleting an absent token is not an error.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.deleteSession(ctx, tableRefresh, signature)
}

// RotateRefreshToken implements oauth2.TokenRevocationStorage (strict rotation, as Hydra does):
// it deactivates the presented refresh token with a conditional write, deactivates any other
// active refresh token of the grant and deletes the grant's access tokens. When the presented
// token is no longer active (a concurrent rotation won) it returns fosite.ErrSerializationFailure;
// when it is unknown, fosite.ErrNotFound. The token's first_used_at and used_count are recorded.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID string, refreshSignature string) error {
	defer s.tokensChanged(ctx) // the grant's access tokens are deleted
	return s.rotateInTx(ctx, requestID, refreshSignature, "", func(st *txState, key string, _ time.Time, n int64) error {
		pool := st.conn
		if n != 1 {
			found, err := exists(s.txDB(ctx, st), tableRefresh, "signature", key)
			if err != nil {
				return s.mapErr(err)
			}
			if !found {
				return fosite.ErrNotFound
			}
			return fmt.Errorf("%w: refresh token already rotated", fosite.ErrSerializationFailure)
		}
		if s.hot.revokeRest != "" {
			_, err := s.exec(ctx, pool, s.hot.revokeRest, false, requestID, true)
			return s.mapErr(err)
		}
		if _, err := s.exec(ctx, pool, s.hot.deactivate, false, requestID, true); err != nil {
			return s.mapErr(err)
		}
		_, err := s.exec(ctx, pool, s.hot.deleteAccess, requestID)
		return s.mapErr(err)
	})
}

// rotateInTx deactivates the active refresh token signature of requestID (recording its
// first use) in ctx's transaction or one of its own, then runs then in the same
// transaction with the token's hashed key, the time recorded and the number of rows the
// rotation changed (0: the token is unknown or no longer active). A non-empty counted is
// a query that runs the rotation (with its arguments) and more, and returns the number of
// rows the rotation changed (hotStatements.rotateIssued), instead of the rotation alone.
func (s *Store) rotateInTx(ctx context.Context, requestID, signature, counted string, then func(st *txState, key string, now time.Time, n int64) error) error {
	key := signatureKey(signature)
	now := dbTime(s.now())
	return s.inConnTx(ctx, func(st *txState) error {
		var n int64
		if counted != "" {
			if err := s.queryRow(ctx, st.conn, counted, rotateArgs(now, key, requestID), &n); err != nil {
				return err // mapped
			}
			return then(st, key, now, n)
		}
		n, err := s.exec(ctx, st.conn, s.hot.rotate, rotateArgs(now, key, requestID)...)
		if err != nil {
			return s.mapErr(err)
		}
		return then(st, key, now, n)
	})
}

// ---- PKCE (pkce.PKCERequestStorage) ----

// CreatePKCERequestSession implements pkce.PKCERequestStorage (keyed by the code signature).
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createSession(ctx, tablePKCE, signature, req, fosite.AuthorizeCode)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage; fosite.ErrNotFound when absent.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.getSession(ctx, tablePKCE, signature, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage; deleting an absent session is not an error.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.deleteSession(ctx, tablePKCE, signature)
}
