package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"
)

// Group commit (Options.GroupCommit, SQLite only)
//
// SQLite has one writer at a time, and on a busy server a refresh token rotation spends
// most of its time holding it: BEGIN IMMEDIATE, three statements, two inserts, and a COMMIT
// that appends every page the rotation touched to the write-ahead log (about 14 pages).
// With group commit, the transaction fosite opens for a rotation (BeginTX) begins nothing
// in the database: the rotation and the inserts of the new tokens, everything encoded and
// encrypted on the caller's goroutine, are deferred to Commit, which hands them to the
// Store's group committer. The committer runs the rotations that arrived together in one
// database transaction, each in a SAVEPOINT of its own (a rotation that fails, say the
// loser of a race for one token, rolls back alone), and COMMITs once: the pages the
// rotations share (the tables' and indexes' newest leaves) are written once per group, and
// the writer changes hands once per group. Every caller's Commit returns only after the
// COMMIT of its group (durable as any other commit), with its own rotation's error, or the
// COMMIT's.
//
// The writes run in the order each transaction made them and the groups one after the
// other, so everything that decides a winner stays a conditional write in a transaction
// holding SQLite's write lock: of two rotations of one token, in one group or in two, the
// second finds the token inactive. Errors a rotation reports at once without group commit
// (fosite.ErrSerializationFailure, fosite.ErrNotFound) come from Commit instead, which
// fosite's refresh handler treats the same way. Only a transaction whose first write is a
// rotation defers; any other call in it (a read, a revocation) first begins the database
// transaction and runs what was deferred, in order (materialize), and so does every other
// transaction: they behave as without group commit.

// groupCommitMax bounds how many deferred transactions one database transaction runs, so
// that a burst never holds the writer for long.
const groupCommitMax = 64

// deferredWrite is one write a deferred transaction runs at its commit, on st's connection.
type deferredWrite func(st *txState) error

// groupItem is one deferred transaction waiting for its group's commit.
type groupItem struct {
	ctx    context.Context
	writes []deferredWrite
	// done receives the outcome: the item's error (nil once its group committed), or
	// lead=true when this item's goroutine is to run the next group.
	done chan groupOutcome
}

type groupOutcome struct {
	err  error
	lead bool
}

// groupCommitter runs deferred transactions in shared database transactions. It has no
// goroutine of its own: the first caller to arrive while none runs a group becomes the
// leader and runs the queue as one group; callers arriving meanwhile queue up, and the
// leader hands the next group to the first of them (who then leads) and returns.
type groupCommitter struct {
	s *Store

	mu      sync.Mutex
	queue   []*groupItem
	leading bool
	groups  int64 // groups run so far (tests read it)
}

// commit runs writes in the next group and returns once that group has committed: the
// error of writes, or of the group's BEGIN or COMMIT.
func (g *groupCommitter) commit(ctx context.Context, writes []deferredWrite) error {
	it := &groupItem{ctx: ctx, writes: writes, done: make(chan groupOutcome, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, it)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		// Wait even when ctx ends: the item may be in a group that is running.
		out := <-it.done
		if !out.lead {
			return out.err
		}
	}
	g.lead()
	return (<-it.done).err
}

// lead runs one group, then hands the rest of the queue to its first item's goroutine,
// or stops leading when the queue is empty. The group is what has queued by the time the
// writer is free (BEGIN returned): rotations that arrive while the previous group
// commits join the next one.
func (g *groupCommitter) lead() {
	s := g.s
	g.mu.Lock()
	head := g.queue[0]
	g.mu.Unlock()
	// The group's transaction must not end with one caller's context.
	st, beginErr := s.beginTx(context.WithoutCancel(head.ctx), s.txOptions())

	g.mu.Lock()
	n := min(len(g.queue), groupCommitMax)
	group := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.groups++
	g.mu.Unlock()

	if beginErr != nil {
		for _, it := range group {
			it.done <- groupOutcome{err: beginErr}
		}
	} else {
		g.run(st, group)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.leading = false
		g.queue = nil
		return
	}
	g.queue[0].done <- groupOutcome{lead: true}
}

// run runs group in st, commits st, and answers each item of group.
func (g *groupCommitter) run(st *txState, group []*groupItem) {
	s := g.s
	errs := make([]error, len(group))
	ran := false
	for i, it := range group {
		if err := it.ctx.Err(); err != nil {
			errs[i] = s.mapErr(err)
			continue
		}
		if len(group) == 1 {
			// Alone: the transaction is the item's; an error rolls it back (below).
			errs[i] = runWrites(st, it.writes)
		} else {
			errs[i] = g.runItem(st, it)
		}
		ran = ran || errs[i] == nil
	}
	var commitErr error
	if ran {
		commitErr = s.mapErr(st.commit())
	} else if err := st.rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		s.log.Warn("rollback of a group without writes failed", "error", err)
	}
	for i, it := range group {
		if errs[i] == nil {
			errs[i] = commitErr
		}
		it.done <- groupOutcome{err: errs[i]}
	}
}

// runItem runs it's writes inside a savepoint of st: on an error, they are rolled back and
// the others of the group are not affected.
func (g *groupCommitter) runItem(st *txState, it *groupItem) error {
	s := g.s
	if _, err := s.exec(it.ctx, st.conn, s.hot.savepoint); err != nil {
		return s.mapErr(err)
	}
	err := runWrites(st, it.writes)
	if err == nil {
		if _, rerr := s.exec(it.ctx, st.conn, s.hot.releaseSavepoint); rerr != nil {
			return s.mapErr(rerr)
		}
		return nil
	}
	// Undo this item's writes; the savepoint stays until released. With a cancelled ctx
	// database/sql refuses statements: the undo must not depend on it.
	undo := context.WithoutCancel(it.ctx)
	if _, rerr := s.exec(undo, st.conn, s.hot.rollbackToSavepoint); rerr != nil {
		return errors.Join(err, fmt.Errorf("gormstore: group commit: rollback to savepoint: %w", rerr))
	}
	if _, rerr := s.exec(undo, st.conn, s.hot.releaseSavepoint); rerr != nil {
		return errors.Join(err, fmt.Errorf("gormstore: group commit: release savepoint: %w", rerr))
	}
	return err
}

// runWrites runs writes on st in order, up to the first error.
func runWrites(st *txState, writes []deferredWrite) error {
	for _, w := range writes {
		if err := w(st); err != nil {
			return err
		}
	}
	return nil
}

// deferWrite defers w to the commit of ctx's transaction when that transaction defers its
// writes, and reports whether it did. start says that w is a refresh token rotation, the
// only write that makes a transaction that has not written yet defer.
func (s *Store) deferWrite(ctx context.Context, start bool, w deferredWrite) bool {
	ref := txFrom(ctx)
	if ref == nil {
		return false
	}
	st := ref.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done || !st.lazy || (!st.deferring && !start) {
		return false
	}
	st.deferring = true
	st.deferred = append(st.deferred, w)
	return true
}

// materialize begins the database transaction of a lazy st and runs the writes it
// deferred, in order, returning the first error (which Commit then returns too). A failed
// BEGIN leaves st on a connection whose every statement fails with that error.
func (s *Store) materialize(st *txState) error {
	st.mu.Lock()
	if !st.lazy || st.done {
		st.mu.Unlock()
		return nil
	}
	st.lazy = false
	real, err := s.beginTx(st.ctx, s.txOptions())
	if err != nil {
		st.conn, st.failed = failedConn{err}, err
		st.mu.Unlock()
		return err
	}
	st.conn, st.tx = real.conn, real.tx
	writes := st.deferred
	st.deferred, st.deferring = nil, false
	st.mu.Unlock()
	for _, w := range writes {
		if err := w(st); err != nil {
			st.mu.Lock()
			st.failed = err
			st.mu.Unlock()
			return err
		}
	}
	return nil
}

// failedConn is the connection of a transaction whose BEGIN failed: every statement
// fails with that error.
type failedConn struct{ err error }

func (c failedConn) PrepareContext(context.Context, string) (*sql.Stmt, error) { return nil, c.err }

func (c failedConn) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, c.err
}

func (c failedConn) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, c.err
}

// QueryRowContext cannot carry the error (a *sql.Row is database/sql's to build):
// queryRow checks for a failedConn before calling it, and GORM's handle on a failed
// transaction carries the error, so that GORM runs nothing.
func (c failedConn) QueryRowContext(context.Context, string, ...any) *sql.Row { return nil }

func (c failedConn) Commit() error   { return c.err }
func (c failedConn) Rollback() error { return nil }

var _ gorm.TxCommitter = failedConn{}
