package provider

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ory/fosite"
)

// writeTransactional is implemented by storages that can group writes in one transaction
// that reads only rows it locks (storage/gorm's BeginWriteTX: READ COMMITTED on
// PostgreSQL, BEGIN IMMEDIATE on SQLite). The authorization endpoint stores the code, the
// PKCE request and the grant in one: one commit instead of three, and no code is stored
// without its grant. Commit and Rollback (fosite's storage.Transactional) end it.
type writeTransactional interface {
	BeginWriteTX(ctx context.Context) (context.Context, error)
}

// inWriteTx runs fn in one write transaction when the storage has them (committed when fn
// returns nil, rolled back otherwise), else fn with ctx as it is (each write commits on
// its own).
func (p *Provider) inWriteTx(ctx context.Context, fn func(ctx context.Context) error) error {
	wt, ok := p.store.(writeTransactional)
	if !ok {
		return fn(ctx)
	}
	return p.inTx(ctx, wt.BeginWriteTX, fn)
}

// inTx runs fn in the transaction begin starts: committed when fn returns nil, rolled
// back otherwise. A storage failure to begin or commit is noted (watchStorage).
func (p *Provider) inTx(ctx context.Context, begin func(context.Context) (context.Context, error), fn func(ctx context.Context) error) error {
	txCtx, err := begin(ctx)
	if err != nil {
		return noteStorage(ctx, err)
	}
	if err := fn(txCtx); err != nil {
		if rerr := p.store.Rollback(txCtx); rerr != nil {
			p.log.WarnContext(ctx, "rollback failed", slog.String("error", rerr.Error()))
		}
		return err
	}
	return noteStorage(ctx, p.store.Commit(txCtx))
}

type codeExchangeKey struct{}

// codeExchange is what one code exchange's fosite handlers leave for the provider. The
// code handler's read of the code (code, codeSignature) serves the PKCE handler's read of
// the challenge, which the code's row keeps (fromCode): one read per exchange. fosite's
// PKCE handler deletes the PKCE request before verifying code_verifier, in a write of its
// own, so that a wrong verifier burns the code (RFC 7636 §4.6); the provider defers that
// delete (signature): a separate PKCE row is deleted in the transaction that issues the
// tokens, and an exchange that fails past fosite's delete burns the code (burnCode).
type codeExchange struct {
	code          fosite.Requester // the code's stored request, as the code handler read it
	codeSignature string           // the signature code was read under
	signature     string           // empty: fosite's PKCE handler did not reach its delete
	fromCode      bool             // the challenge came from the code's row, not a PKCE row
}

// withCodeExchange returns ctx for a code exchange, whose handlers' traces d collects.
func withCodeExchange(ctx context.Context) (context.Context, *codeExchange) {
	d := &codeExchange{}
	return context.WithValue(ctx, codeExchangeKey{}, d), d
}

// deletePKCE deletes the separate PKCE row d names, if any, with ctx (in its transaction
// when it carries one). A challenge kept in the code's row needs no delete: the code's
// invalidation ends both.
func (p *Provider) deletePKCE(ctx context.Context, d *codeExchange) error {
	if d == nil || d.signature == "" || d.fromCode {
		return nil
	}
	return noteStorage(ctx, p.store.DeletePKCERequestSession(ctx, d.signature))
}

// burnCode ends the code of an exchange that failed after fosite's PKCE handler reached
// its delete (a wrong code_verifier): its PKCE row goes, or, where the code's row keeps
// the challenge, the code is invalidated, so that the right verifier cannot follow a
// wrong one.
func (p *Provider) burnCode(ctx context.Context, d *codeExchange) error {
	if d == nil || d.signature == "" {
		return nil
	}
	if !d.fromCode {
		return p.deletePKCE(ctx, d)
	}
	err := p.store.InvalidateAuthorizeCodeSession(ctx, d.signature)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || errors.Is(err, fosite.ErrNotFound) {
		return nil // already spent, or gone
	}
	return noteStorage(ctx, err)
}

// tokenPairStorage is implemented by storages that store a token response's access token
// and the refresh token issued with it in one call (storage/gorm: one statement on
// PostgreSQL, one round trip instead of two).
type tokenPairStorage interface {
	CreateTokenSessions(ctx context.Context, accessSignature string, accessReq fosite.Requester, refreshSignature string, refreshReq fosite.Requester) error
}

type pendingAccessKey struct{}

// pendingAccess is the access token a token response's fosite handler asked to store
// (fositeStore.CreateAccessTokenSession) while issueAndRecordUse runs it with a
// tokenPairStorage: its insert waits for the refresh token issued with it, which fosite
// stores right after (CreateRefreshTokenSession), and both go in one call; without a
// refresh token it is stored before the transaction commits (flush).
type pendingAccess struct {
	store     tokenPairStorage
	signature string // empty: nothing pending
	req       fosite.Requester
}

// deferAccess keeps the access token signature for the refresh token that follows, when
// ctx is a token response's under issueAndRecordUse with nothing pending yet.
func deferAccess(ctx context.Context, signature string, req fosite.Requester) bool {
	pa, ok := ctx.Value(pendingAccessKey{}).(*pendingAccess)
	if !ok || pa.signature != "" {
		return false
	}
	pa.signature, pa.req = signature, req
	return true
}

// pairedAccess takes the pending access token issued with a refresh token (accessSignature),
// if any: the refresh token's insert then stores both (tokenPairStorage).
func pairedAccess(ctx context.Context, accessSignature string) (*pendingAccess, fosite.Requester) {
	pa, ok := ctx.Value(pendingAccessKey{}).(*pendingAccess)
	if !ok || pa.signature == "" || pa.signature != accessSignature {
		return nil, nil
	}
	req := pa.req
	pa.signature, pa.req = "", nil
	return pa, req
}

// flush stores the pending access token, if any, with ctx (its transaction).
func (pa *pendingAccess) flush(ctx context.Context, store Storage) error {
	if pa == nil || pa.signature == "" {
		return nil
	}
	sig, req := pa.signature, pa.req
	pa.signature, pa.req = "", nil
	return noteStorage(ctx, store.CreateAccessTokenSession(ctx, sig, req))
}

// issueAndRecordUse runs populate, fosite's PopulateTokenEndpointResponse of a code
// exchange or refresh token rotation, and records the grant's use (recordGrantUse) in
// the one transaction fosite's handler would have begun itself (storage.Transactional's
// BeginTX, which fosite's nested BeginTX joins): one commit per token request instead of
// two. A code exchange's PKCE request is deleted in it too (codeExchange), and the access
// and refresh tokens are stored in one call where the storage can (pendingAccess).
func (p *Provider) issueAndRecordUse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder, populate func(ctx context.Context) error) error {
	var pa *pendingAccess
	if ps, ok := p.store.(tokenPairStorage); ok {
		pa = &pendingAccess{store: ps}
		ctx = context.WithValue(ctx, pendingAccessKey{}, pa)
	}
	return p.inTx(ctx, p.store.BeginTX, func(ctx context.Context) error {
		if err := populate(ctx); err != nil {
			return err
		}
		if err := pa.flush(ctx, p.store); err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		d, _ := ctx.Value(codeExchangeKey{}).(*codeExchange)
		if err := p.deletePKCE(ctx, d); err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		p.recordGrantUse(ctx, r, resp)
		return nil
	})
}
