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
}

func newSQLiteConnector(dsn string) *sqliteConnector {
	return &sqliteConnector{dsn: dsn, driver: &sqlite3.SQLiteDriver{}}
}

// Connect implements driver.Connector.
func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &sqliteConn{conn.(*sqlite3.SQLiteConn)}, nil
}

// Driver implements driver.Connector.
func (c *sqliteConnector) Driver() driver.Driver { return c.driver }

// sqliteConn is a go-sqlite3 connection whose statements ignore context cancellation
// (sqliteConnector).
type sqliteConn struct{ *sqlite3.SQLiteConn }

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
