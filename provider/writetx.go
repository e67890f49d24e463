package provider

import (
	"context"
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

type pkceDeleteKey struct{}

// pkceDelete is the PKCE request a code exchange's PKCE handler deleted
// (fositeStore.DeletePKCERequestSession): fosite deletes it before verifying
// code_verifier, in a write of its own; the provider deletes it in the transaction that
// issues the tokens instead, and after the response when the exchange failed, so that
// every exchange that reached fosite's delete still removes it.
type pkceDelete struct {
	signature string // empty: nothing to delete
}

// withPKCEDelete returns ctx for a code exchange, whose PKCE delete d collects.
func withPKCEDelete(ctx context.Context) (context.Context, *pkceDelete) {
	d := &pkceDelete{}
	return context.WithValue(ctx, pkceDeleteKey{}, d), d
}

// deletePKCE deletes the PKCE request d names, if any, with ctx (in its transaction
// when it carries one).
func (p *Provider) deletePKCE(ctx context.Context, d *pkceDelete) error {
	if d == nil || d.signature == "" {
		return nil
	}
	return noteStorage(ctx, p.store.DeletePKCERequestSession(ctx, d.signature))
}

// issueAndRecordUse runs populate, fosite's PopulateTokenEndpointResponse of a code
// exchange or refresh token rotation, and records the grant's use (recordGrantUse) in
// the one transaction fosite's handler would have begun itself (storage.Transactional's
// BeginTX, which fosite's nested BeginTX joins): one commit per token request instead of
// two. A code exchange's PKCE request is deleted in it too (pkceDelete).
func (p *Provider) issueAndRecordUse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder, populate func(ctx context.Context) error) error {
	return p.inTx(ctx, p.store.BeginTX, func(ctx context.Context) error {
		if err := populate(ctx); err != nil {
			return err
		}
		d, _ := ctx.Value(pkceDeleteKey{}).(*pkceDelete)
		if err := p.deletePKCE(ctx, d); err != nil {
			return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
		}
		p.recordGrantUse(ctx, r, resp)
		return nil
	})
}
