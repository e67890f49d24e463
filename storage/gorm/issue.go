package gormstore

import (
	"context"
	"errors"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// IssueTokens implements provider.TokenIssueStorage: a token response's writes (the code
// consumed or the refresh token rotated, the tokens issued, the grant's use) at once and
// atomically, in ctx's transaction when it carries one, with the outcomes of the methods
// they stand for (InvalidateAuthorizeCodeSession, RotateRefreshToken or
// RotateRefreshTokenWithGrace, CreateTokenSessions, DeletePKCERequestSession, TouchGrant,
// TouchClient).
//
// On PostgreSQL, outside a transaction, they are one statement (issueStatement): one
// round trip where BEGIN, the consumption, the inserts, COMMIT and the grant's update took
// five, and the client's update one more. When the code or token is not consumable as it
// stands (used, rotated, unknown, or a reuse within the grace window) that statement
// changes nothing, and the methods run one by one in a transaction, which classifies it.
func (s *Store) IssueTokens(ctx context.Context, iss provider.TokenIssue) error {
	if iss.AccessSignature == "" || (iss.Code == "") == (iss.Rotation == nil) {
		return errors.New("gormstore: issue tokens: want an access token and one code or refresh token consumed")
	}
	if iss.Rotation != nil {
		defer s.tokensChanged(ctx) // access tokens of the grant are deleted
	}
	if iss.PKCE == "" && openTx(ctx) == nil {
		done, err := s.issueInOneStatement(ctx, iss)
		if done || err != nil {
			return err
		}
	}
	return s.issueOneByOne(ctx, iss)
}

// inOwnTx runs fn in the transaction begin starts (or joins): committed when fn returns
// nil, rolled back otherwise.
func (s *Store) inOwnTx(ctx context.Context, begin func(context.Context) (context.Context, error), fn func(ctx context.Context) error) error {
	ctx, err := begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(ctx); err != nil {
		if rerr := s.Rollback(ctx); rerr != nil {
			s.log.WarnContext(ctx, "rollback failed", "error", rerr)
		}
		return err
	}
	return s.Commit(ctx)
}

// issueOneByOne is IssueTokens as the methods it stands for, in one transaction.
func (s *Store) issueOneByOne(ctx context.Context, iss provider.TokenIssue) error {
	return s.inOwnTx(ctx, s.BeginTX, func(ctx context.Context) error { return s.issueWrites(ctx, iss) })
}

// issueWrites are issueOneByOne's writes, in ctx's transaction.
func (s *Store) issueWrites(ctx context.Context, iss provider.TokenIssue) (err error) {
	switch rot := iss.Rotation; {
	case rot == nil:
		err = s.InvalidateAuthorizeCodeSession(ctx, iss.Code)
	case rot.Grace.Period > 0:
		err = s.RotateRefreshTokenWithGrace(ctx, rot.RequestID, rot.Signature, rot.Grace)
	default:
		err = s.RotateRefreshToken(ctx, rot.RequestID, rot.Signature)
	}
	if err != nil {
		return err
	}
	if iss.RefreshSignature != "" {
		err = s.CreateTokenSessions(ctx, iss.AccessSignature, iss.AccessRequest, iss.RefreshSignature, iss.RefreshRequest)
	} else {
		err = s.CreateAccessTokenSession(ctx, iss.AccessSignature, iss.AccessRequest)
	}
	if err != nil {
		return err
	}
	if iss.PKCE != "" {
		if err = s.DeletePKCERequestSession(ctx, iss.PKCE); err != nil {
			return err
		}
	}
	if use := iss.GrantUse; use != nil {
		if err = s.TouchGrant(ctx, use.RequestID, use.At, use.ExpiresAt); err != nil {
			return err
		}
	}
	if use := iss.ClientUse; use != nil {
		return s.TouchClient(ctx, use.ClientID, use.At)
	}
	return nil
}

// issueInOneStatement runs IssueTokens' writes as one PostgreSQL statement, done when the
// code or refresh token was consumed (everything is then written); when it was not,
// nothing is. Elsewhere it does nothing and is not done.
func (s *Store) issueInOneStatement(ctx context.Context, iss provider.TokenIssue) (done bool, err error) {
	shape := issueShape{consume: consumeCode, refresh: iss.RefreshSignature != "", client: iss.ClientUse != nil}
	if rot := iss.Rotation; rot != nil {
		shape.consume = consumeStrict
		if rot.Grace.Period > 0 {
			shape.consume = consumeGrace
		}
	}
	if use := iss.GrantUse; use != nil {
		shape.touch = touchExpiry
		if use.ExpiresAt.IsZero() {
			shape.touch = touchNoExpiry
		}
	}
	q, ok := s.hot.issue[shape]
	if !ok {
		return false, nil // not PostgreSQL
	}
	// The arguments, in the order of issueStatement's placeholders (every shape and its
	// values are tested: TestIssueTokens_OneStatementOnPostgreSQL).
	var args []any
	switch rot := iss.Rotation; shape.consume {
	case consumeCode:
		args = append(args, false, signatureKey(iss.Code), true)
	case consumeGrace:
		args = rotateArgs(dbTime(s.now()), signatureKey(rot.Signature), rot.RequestID)
	case consumeStrict:
		key := signatureKey(rot.Signature)
		args = append(rotateArgs(dbTime(s.now()), key, rot.RequestID), false, rot.RequestID, true, key, rot.RequestID)
	}
	access, err := s.newSessionRow(tableAccess, iss.AccessSignature, iss.AccessRequest, fosite.AccessToken)
	if err != nil {
		return false, err
	}
	args = append(args, access.values()...)
	if shape.refresh {
		refresh, err := s.newSessionRow(tableRefresh, iss.RefreshSignature, iss.RefreshRequest, fosite.RefreshToken)
		if err != nil {
			return false, err
		}
		args = append(append(args, refresh.values()...), access.Signature)
	}
	if use := iss.GrantUse; use != nil {
		args = append(args, touchGrantArgs(use.RequestID, use.At, use.ExpiresAt)...)
	}
	if use := iss.ClientUse; use != nil {
		args = append(args, touchClientArgs(use.ClientID, use.At)...)
	}
	var n int64
	err = s.queryRow(ctx, s.db.Statement.ConnPool, q, args, &n)
	switch {
	case isForeignKeyViolation(err):
		// The client is gone (see insertSession).
		s.forgetClient(ctx, iss.AccessRequest.GetClient().GetID())
		if shape.refresh {
			s.forgetClient(ctx, iss.RefreshRequest.GetClient().GetID())
		}
		return false, err // mapped
	case errors.Is(err, fosite.ErrSerializationFailure):
		// A conflict (a deadlock, a duplicate key) wrote nothing, and says nothing about
		// the code or token: the methods one by one classify it.
		return false, nil
	case err != nil:
		return false, err // mapped
	}
	if use := iss.ClientUse; use != nil && n == 1 {
		s.forgetClient(ctx, use.ClientID) // as TouchClient
	}
	return n == 1, nil
}

// issueShape selects one of PostgreSQL's one-statement token responses (hotStatements.issue).
type issueShape struct {
	consume issueConsume
	refresh bool // a refresh token is issued with the access token
	touch   grantTouch
	client  bool // the client's use is recorded (TouchClient)
}

// issueConsume is what a token response consumes.
type issueConsume int

const (
	consumeCode   issueConsume = iota // an authorization code
	consumeStrict                     // a refresh token, strict rotation (RotateRefreshToken)
	consumeGrace                      // a refresh token, first use under the grace window
)

// grantTouch is how a token response records its grant's use.
type grantTouch int

const (
	touchNone     grantTouch = iota
	touchExpiry              // TouchGrant with an expiry
	touchNoExpiry            // TouchGrant of tokens that never expire
)

// issueStatements renders PostgreSQL's one-statement token responses, one per shape (36):
// a data-modifying CTE whose first part consumes the code or refresh token (the
// conditional write of InvalidateAuthorizeCodeSession or rotate) and whose other parts
// run only when it did (EXISTS (SELECT 1 FROM consumed)): the deletes that go with a
// rotation, the inserts of CreateTokenSessions, and the updates of TouchGrant and
// TouchClient. It returns the number of rows consumed. Every part sees the statement's
// snapshot, so the deletes never see the rows it inserts; run outside a transaction, the
// statement is one under READ COMMITTED, where a concurrent consumer of the same row
// waits for this one and then finds it consumed (0 rows) instead of failing to serialize.
func issueStatements() map[issueShape]string {
	out := map[issueShape]string{}
	for _, consume := range []issueConsume{consumeCode, consumeStrict, consumeGrace} {
		for _, touch := range []grantTouch{touchNone, touchExpiry, touchNoExpiry} {
			for _, refresh := range []bool{false, true} {
				for _, client := range []bool{false, true} {
					sh := issueShape{consume: consume, refresh: refresh, touch: touch, client: client}
					out[sh] = rebind(dialectPostgres, issueStatement(sh))
				}
			}
		}
	}
	return out
}

// issueStatement is issueStatements' statement for sh, with ? placeholders.
func issueStatement(sh issueShape) string {
	const ifConsumed = " EXISTS (SELECT 1 FROM consumed)"
	q := "WITH "
	switch sh.consume {
	case consumeCode:
		q += "consumed AS (" + invalidateSQL + " RETURNING 1)"
	case consumeStrict:
		// The grant's other active refresh tokens and its access tokens, as
		// RotateRefreshToken. The presented row must be left to consumed: of two updates
		// of one row in one statement PostgreSQL silently applies only one.
		q += "consumed AS (" + rotateSQL + " RETURNING 1), " +
			"others AS (" + deactivateSQL + " AND signature <> ? AND" + ifConsumed + "), " +
			"revoked AS (" + deleteAccessSQL + " AND" + ifConsumed + ")"
	case consumeGrace:
		q += "consumed AS (" + rotateSQL + " RETURNING access_signature), " +
			"issued AS (DELETE FROM " + tableAccess + " WHERE signature IN (SELECT access_signature FROM consumed))"
	}
	q += ", access AS (INSERT INTO " + tableAccess + " (" + sessionColumns + ") SELECT " + placeholders(9) + " WHERE" + ifConsumed + ")"
	if sh.refresh {
		q += ", refresh AS (INSERT INTO " + tableRefresh + " (" + sessionColumns + ", access_signature) SELECT " +
			placeholders(10) + " WHERE" + ifConsumed + ")"
	}
	switch sh.touch {
	case touchExpiry:
		q += ", grant_used AS (" + touchGrantSQL + " AND" + ifConsumed + ")"
	case touchNoExpiry:
		q += ", grant_used AS (" + touchGrantNoExpirySQL + " AND" + ifConsumed + ")"
	}
	if sh.client {
		q += ", client_used AS (" + touchClientSQL + " AND" + ifConsumed + ")"
	}
	return q + " SELECT count(*) FROM consumed"
}

// IssueCode implements provider.CodeIssueStorage: an approval's writes (the code, a PKCE
// request of its own, the grant) at once and atomically, in ctx's transaction when it
// carries one, with the outcomes of the methods they stand for
// (CreateAuthorizeCodeSession, CreatePKCERequestSession, RecordGrant).
//
// On PostgreSQL, outside a transaction and without a PKCE row (every request with a
// code_challenge), they are one statement (grantStatements.issueCode: the code's insert,
// the grant's upsert and its request's link): one round trip where BEGIN, the code's
// insert, the grant's read and write, and COMMIT took five.
func (s *Store) IssueCode(ctx context.Context, iss provider.CodeIssue) error {
	if iss.Signature == "" || iss.Request == nil {
		return errors.New("gormstore: issue code: want a code")
	}
	if iss.Grant != nil {
		if err := checkGrantRecord(*iss.Grant); err != nil {
			return err
		}
	}
	if q := s.hot.grants.issueCode; q != "" && iss.PKCESignature == "" && openTx(ctx) == nil {
		if iss.Grant == nil {
			return s.CreateAuthorizeCodeSession(ctx, iss.Signature, iss.Request)
		}
		code, err := s.newSessionRow(tableCodes, iss.Signature, iss.Request, fosite.AuthorizeCode)
		if err != nil {
			return err
		}
		_, args := newGrantArgs(*iss.Grant)
		args = append(append(code.values(), args...), iss.Grant.RequestID, dbTime(iss.Grant.At))
		_, err = s.exec(ctx, s.db.Statement.ConnPool, q, args...)
		if isForeignKeyViolation(err) {
			s.forgetClient(ctx, code.ClientID) // see insertSession
		}
		return s.mapErr(err)
	}
	return s.issueCodeOneByOne(ctx, iss)
}

// issueCodeOneByOne is IssueCode as the methods it stands for, in one write transaction.
func (s *Store) issueCodeOneByOne(ctx context.Context, iss provider.CodeIssue) error {
	return s.inOwnTx(ctx, s.BeginWriteTX, func(ctx context.Context) error {
		if err := s.CreateAuthorizeCodeSession(ctx, iss.Signature, iss.Request); err != nil {
			return err
		}
		if iss.PKCESignature != "" {
			if err := s.CreatePKCERequestSession(ctx, iss.PKCESignature, iss.PKCERequest); err != nil {
				return err
			}
		}
		if iss.Grant != nil {
			return s.RecordGrant(ctx, *iss.Grant)
		}
		return nil
	})
}

var (
	_ provider.TokenIssueStorage = (*Store)(nil)
	_ provider.CodeIssueStorage  = (*Store)(nil)
)
