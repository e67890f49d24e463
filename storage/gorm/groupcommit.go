package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
)

// groupCommitter runs the write transactions of an SQLite Store (OpenSQLite) as members of
// shared SQLite transactions, so that concurrent token requests share one COMMIT instead of
// paying one each (docs/design-group-commit.md).
//
// A member runs alone on the one writer connection, inside a SAVEPOINT of the open batch
// (BEGIN IMMEDIATE … COMMIT): it sees the work earlier members released, and its Rollback
// undoes its own work only (ROLLBACK TO). Its Commit releases the savepoint and returns once
// the batch's COMMIT has succeeded, or with the COMMIT's error: nothing is answered before
// it is durable. The member that ends its work while no other member waits for the writer
// (or when the batch is full) commits the batch; so does a waiter that gives up, if it was
// the one left to do it (settle). Statements run with context.Background(): the
// connection ignores cancellation anyway (sqliteConnector), and database/sql starts a
// goroutine per transaction and per query for a context that can end.
type groupCommitter struct {
	db *sql.DB // the writer pool (one connection)
	// turn is held (a value in it) by the member running statements on the batch, or by the
	// goroutine committing it. Its holder owns cur.
	turn    chan struct{}
	waiting atomic.Int32 // begin calls waiting for turn
	cur     *batch       // the open batch, or nil

	// commits and members count the batches committed and the members they held (tests).
	commits, members atomic.Int64

	// committed, when set (checkpointer), gets a value, without blocking, after each COMMIT.
	committed chan struct{}
}

// groupCommitMaxMembers bounds a batch: the first member of a full batch waits for the work
// of at most this many members (each well under a millisecond of statements) before its COMMIT.
const groupCommitMaxMembers = 16

// batch is one SQLite transaction shared by the members that joined it.
type batch struct {
	conn *sql.Conn // the writer connection, held until the batch ends
	tx   *sql.Tx
	n    int           // members released into it, waiting for its COMMIT
	done chan struct{} // closed when the batch has ended; err is then its result
	err  error
}

func newGroupCommitter(db *sql.DB) *groupCommitter {
	return &groupCommitter{db: db, turn: make(chan struct{}, 1)}
}

// member is one write transaction inside a batch. It is the transaction's gorm.ConnPool
// and gorm.TxCommitter: statements run on the batch's *sql.Tx.
type member struct {
	g         *groupCommitter
	b         *batch
	savepoint bool // its work is inside SAVEPOINT member (b held released work when it began)
	done      bool
}

// begin waits for the writer (honouring ctx) and starts a member in the open batch, or in a
// new one. The caller must end it with Commit or Rollback.
func (g *groupCommitter) begin(ctx context.Context) (*member, error) {
	g.waiting.Add(1)
	select {
	case g.turn <- struct{}{}:
		g.waiting.Add(-1)
	case <-ctx.Done():
		g.waiting.Add(-1)
		// The member before us may have left its batch open for us: end it.
		go g.settle()
		return nil, ctx.Err()
	}
	if g.cur == nil {
		b, err := g.open(ctx)
		if err != nil {
			<-g.turn
			return nil, err
		}
		g.cur = b
	}
	m := &member{g: g, b: g.cur}
	// The first member's work is the whole transaction so far: its Rollback rolls the
	// transaction back, without a savepoint (the serial case pays nothing extra).
	if m.savepoint = g.cur.n > 0; m.savepoint {
		if _, err := m.exec("SAVEPOINT member", nil); err != nil {
			g.abandon(g.cur, err)
			return nil, err
		}
	}
	return m, nil
}

// open takes the writer connection (honouring ctx) and begins a batch on it.
func (g *groupCommitter) open(ctx context.Context) (*batch, error) {
	conn, err := g.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE (the DSN's _txlock)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &batch{conn: conn, tx: tx, done: make(chan struct{})}, nil
}

// Commit releases the member's savepoint and waits for its batch's COMMIT.
func (m *member) Commit() error {
	if m.done {
		return sql.ErrTxDone
	}
	m.done = true
	g, b := m.g, m.b
	if m.savepoint {
		if _, err := m.exec("RELEASE member", nil); err != nil {
			g.abandon(b, err)
			return err
		}
	}
	b.n++
	g.handOn(b)
	<-b.done
	return b.err
}

// Rollback undoes the member's work only; the batch goes on.
func (m *member) Rollback() error {
	if m.done {
		return sql.ErrTxDone
	}
	m.done = true
	g, b := m.g, m.b
	if !m.savepoint { // b holds only this member's work
		g.end(b)
		return b.err
	}
	_, err := m.exec("ROLLBACK TO member", nil)
	if err == nil {
		_, err = m.exec("RELEASE member", nil)
	}
	if err != nil {
		g.abandon(b, err)
		return err
	}
	g.handOn(b)
	return nil
}

// handOn is called by the holder of turn whose member has ended: it leaves batch b open for
// the next waiting member, or ends it now.
func (g *groupCommitter) handOn(b *batch) {
	if g.waiting.Load() > 0 && b.n < groupCommitMaxMembers {
		<-g.turn
		return
	}
	g.end(b)
}

// settle ends the open batch if no member is left to do it (a waiter gave up).
func (g *groupCommitter) settle() {
	g.turn <- struct{}{}
	if b := g.cur; b != nil && g.waiting.Load() == 0 {
		g.end(b)
		return
	}
	<-g.turn
}

// end commits batch b (rolls it back when no member is waiting for it), releases the
// writer connection, wakes b's members and gives up turn (close). The caller holds turn.
func (g *groupCommitter) end(b *batch) {
	g.conclude(b)
	g.close(b)
}

// conclude commits batch b, or rolls it back when no member is waiting for it; b.err is
// the result. The caller holds turn.
func (g *groupCommitter) conclude(b *batch) {
	if b.n > 0 {
		b.err = b.tx.Commit()
		g.commits.Add(1)
		g.members.Add(int64(b.n))
		if g.committed != nil {
			select {
			case g.committed <- struct{}{}:
			default:
			}
		}
	} else if err := b.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		b.err = err
	}
}

// abandon rolls batch b back after a savepoint statement failed (SQLite may have rolled the
// whole transaction back already, e.g. on a full disk): its members' Commit return err. The
// caller holds turn.
func (g *groupCommitter) abandon(b *batch, err error) {
	_ = b.tx.Rollback()
	b.err = err
	g.close(b)
}

// close releases b's writer connection, wakes b's members and gives up turn; when a member
// waits for turn, it then yields its processor. The writer is what concurrent write
// transactions queue for, so the member that gets turn should run first: once this
// goroutine gives up its processor, Go's scheduler runs the goroutine readied last on it
// (its runnext; not always under -race, and an idle processor may steal it), so turn goes
// after b's members are woken, and the yield lets the new holder run now instead of after
// the rest of this goroutine's request. The price is this goroutine's: it goes to the
// global run queue, behind the woken members and whatever else is queued, before it
// answers its own request (p99 under load was equal or lower). Before, turn went first and
// the woken members pushed its new holder down the run queue: a handoff took 38 µs on
// average under load, now 14 µs (test/load/README.md, session 15).
func (g *groupCommitter) close(b *batch) {
	_ = b.conn.Close()
	g.cur = nil
	close(b.done)
	<-g.turn
	if g.waiting.Load() > 0 {
		runtime.Gosched()
	}
}

// exclusive runs fn while no write transaction is open on the writer (the checkpointer's
// WAL restart): it waits for turn (honouring ctx) like a member, commits the batch it
// finds open (waking its members), runs fn and gives turn back. Members wait meanwhile.
func (g *groupCommitter) exclusive(ctx context.Context, fn func() error) error {
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b := g.cur; b != nil {
		g.conclude(b)
		_ = b.conn.Close()
		g.cur = nil
		close(b.done)
	}
	err := fn()
	<-g.turn
	return err
}

// exec runs a hot-path write on the batch's connection without database/sql's per-use
// wrappers (sqliteConn.execRaw) and returns the number of rows it affected.
func (m *member) exec(query string, args []any) (n int64, err error) {
	rerr := m.b.conn.Raw(func(dc any) error {
		c, ok := dc.(*sqliteConn) // OpenSQLite's connector makes every connection
		if !ok {
			return fmt.Errorf("gormstore: group commit on a %T connection", dc)
		}
		n, err = c.execRaw(query, args)
		return nil
	})
	if rerr != nil {
		return 0, rerr
	}
	return n, err // the driver's error as is: callers classify constraint violations
}

// ExecContext implements gorm.ConnPool on the batch's transaction.
func (m *member) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	return m.b.tx.ExecContext(context.Background(), query, args...)
}

// QueryContext implements gorm.ConnPool on the batch's transaction.
func (m *member) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	return m.b.tx.QueryContext(context.Background(), query, args...)
}

// QueryRowContext implements gorm.ConnPool on the batch's transaction.
func (m *member) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	return m.b.tx.QueryRowContext(context.Background(), query, args...)
}

// PrepareContext implements gorm.ConnPool on the batch's transaction.
func (m *member) PrepareContext(_ context.Context, query string) (*sql.Stmt, error) {
	return m.b.tx.PrepareContext(context.Background(), query)
}
