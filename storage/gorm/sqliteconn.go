package gormstore

import (
	"context"
	"database/sql/driver"

	"github.com/mattn/go-sqlite3"
)

// sqliteConnector opens mattn/go-sqlite3 connections that run every statement on the
// calling goroutine (OpenSQLite).
//
// For a context that can be cancelled (every HTTP request's), go-sqlite3 runs each
// statement, each row step and each BEGIN on a new goroutine and waits for it on a
// channel, so that it can interrupt the statement when the context ends: two goroutine
// switches, a channel and often a thread wake-up per call, several per token request,
// for one-row statements that take microseconds. The connections made here hand the
// driver context.Background() instead (it reads nothing from a context but its
// cancellation; context.WithoutCancel cost an allocation per statement), which makes it
// run the statement directly. Cancellation still applies where it matters: a context's end
// stops the wait for the writer (groupCommitter) or a connection; a statement already
// running finishes instead of being interrupted (the bulk deletes of Purge and Prune run in
// bounded batches), and a transaction ends when its owner commits or rolls it back.
type sqliteConnector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
	setup  []string // statements run on every new connection (PRAGMAs the DSN cannot set)
}

func newSQLiteConnector(dsn string, setup ...string) *sqliteConnector {
	return &sqliteConnector{dsn: dsn, driver: &sqlite3.SQLiteDriver{}, setup: setup}
}

// Connect implements driver.Connector.
func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	sc := conn.(*sqlite3.SQLiteConn)
	for _, q := range c.setup {
		if _, err := sc.Exec(q, nil); err != nil {
			_ = sc.Close()
			return nil, err
		}
	}
	return &sqliteConn{SQLiteConn: sc}, nil
}

// Driver implements driver.Connector.
func (c *sqliteConnector) Driver() driver.Driver { return c.driver }

// sqliteConn is a go-sqlite3 connection whose statements ignore context cancellation
// (sqliteConnector).
type sqliteConn struct {
	*sqlite3.SQLiteConn
	// stmts are the statements execRaw prepared on this connection, by query. database/sql
	// uses a connection from one goroutine at a time: no lock.
	stmts map[string]driver.Stmt
	// args is execRaw's argument buffer, reused (go-sqlite3 copies what it binds).
	args []driver.NamedValue
}

// execRaw runs query with args on this connection, bypassing database/sql: the statement
// is prepared once per connection and kept; the arguments are converted as database/sql
// converts them for a driver without a NamedValueChecker. It is what a group commit
// member's hot-path writes run on (member.exec): database/sql allocates a transaction-
// bound statement, a connection grab and a result wrapper per use, about ten allocations.
func (c *sqliteConn) execRaw(query string, args []any) (int64, error) {
	st, ok := c.stmts[query]
	if !ok {
		var err error
		if st, err = c.PrepareContext(context.Background(), query); err != nil {
			return 0, err
		}
		if c.stmts == nil {
			c.stmts = make(map[string]driver.Stmt)
		}
		c.stmts[query] = st
	}
	nv := c.args[:0]
	defer func() { clear(nv); c.args = nv[:0] }()
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return 0, err
		}
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	res, err := st.(driver.StmtExecContext).ExecContext(context.Background(), nv)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Close closes the statements execRaw kept, then the connection.
func (c *sqliteConn) Close() error {
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
	return c.SQLiteConn.Close()
}

func (c *sqliteConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *sqliteConn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	st, err := c.SQLiteConn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	return &sqliteStmt{st.(*sqlite3.SQLiteStmt)}, nil
}

func (c *sqliteConn) ExecContext(_ context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.SQLiteConn.ExecContext(context.Background(), query, args)
}

func (c *sqliteConn) QueryContext(_ context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.SQLiteConn.QueryContext(context.Background(), query, args)
}

func (c *sqliteConn) BeginTx(_ context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.SQLiteConn.BeginTx(context.Background(), opts)
}

// sqliteStmt is a prepared go-sqlite3 statement that ignores context cancellation
// (sqliteConnector).
type sqliteStmt struct{ *sqlite3.SQLiteStmt }

func (s *sqliteStmt) ExecContext(_ context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.SQLiteStmt.ExecContext(context.Background(), args)
}

func (s *sqliteStmt) QueryContext(_ context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.SQLiteStmt.QueryContext(context.Background(), args)
}
