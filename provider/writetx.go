package provider

import (
	"context"
	"log/slog"
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
	txCtx, err := wt.BeginWriteTX(ctx)
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
