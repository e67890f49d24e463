package gormstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ory/fosite"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestOpenPostgres_ContextBoundsStart: a server that accepts the TCP connection but never
// answers PostgreSQL's startup message (a hung database, a wrong port behind a proxy) would
// hold OpenPostgres forever, since pgx sets no connect timeout of its own; the start is
// bounded by the caller's context, and its error says why.
func TestOpenPostgres_ContextBoundsStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	held := make(chan net.Conn, 16)
	defer func() {
		l.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c: // hold it open, say nothing
			default:
				c.Close()
			}
		}
	}()

	dsn := "host=127.0.0.1 user=postgres dbname=postgres sslmode=disable port=" +
		strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	type result struct {
		s   *gormstore.Store
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		s, err := gormstore.OpenPostgres(c, dsn, gormtest.DefaultOptions(t))
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			r.s.Close()
			t.Fatal("OpenPostgres on a silent server succeeded")
		}
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Errorf("OpenPostgres = %v; want an error wrapping context.DeadlineExceeded", r.err)
		}
		t.Logf("returned after %v: %v", time.Since(start).Round(time.Millisecond), r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("OpenPostgres still waiting 20 s after its context's 300 ms deadline")
	}
}

// TestOpenPostgres_LimitsOpenConnections pins OpenPostgres's pool limit: by default
// DefaultPostgresMaxOpenConns (without one, 32 concurrent requests held 32 backends on 2
// cores), Options.PostgresMaxOpenConns when set, no limit when negative; never more idle
// connections than the limit.
func TestOpenPostgres_LimitsOpenConnections(t *testing.T) {
	db := gormtest.NewDatabase(t, gormtest.Postgres)
	for _, tc := range []struct {
		set, wantOpen, wantIdle int
	}{
		{0, gormstore.DefaultPostgresMaxOpenConns(), min(gormstore.DefaultPostgresMaxOpenConns(), gormstore.PostgresMaxIdleConns)},
		{3, 3, 3},
		{-1, 0, gormstore.PostgresMaxIdleConns},
	} {
		opts := gormtest.DefaultOptions(t)
		opts.PostgresMaxOpenConns = tc.set
		s, err := gormstore.OpenPostgres(context.Background(), db.DSN, opts)
		must(t, err)
		sqlDB, err := s.DB().DB()
		must(t, err)
		if got := sqlDB.Stats().MaxOpenConnections; got != tc.wantOpen {
			t.Errorf("PostgresMaxOpenConns %d: MaxOpenConnections = %d, want %d", tc.set, got, tc.wantOpen)
		}
		// database/sql reports no idle limit: hold more connections than it, then count the idle ones.
		n := tc.wantIdle + 2
		if tc.wantOpen > 0 {
			n = tc.wantOpen
		}
		var conns []*sql.Conn
		for range n {
			c, err := sqlDB.Conn(context.Background())
			must(t, err)
			conns = append(conns, c)
		}
		for _, c := range conns {
			must(t, c.Close())
		}
		if got := sqlDB.Stats().Idle; got != tc.wantIdle {
			t.Errorf("PostgresMaxOpenConns %d: %d idle connections after %d were returned, want %d", tc.set, got, n, tc.wantIdle)
		}
		must(t, s.Close())
	}
	if gormstore.DefaultPostgresMaxOpenConns() != gormstore.PostgresConnsPerCPU*runtime.GOMAXPROCS(0) {
		t.Errorf("DefaultPostgresMaxOpenConns() = %d, want %d × GOMAXPROCS", gormstore.DefaultPostgresMaxOpenConns(), gormstore.PostgresConnsPerCPU)
	}
}

// TestOpenPostgres_PoolWaiterHonoursItsContext: with every connection of the limited pool
// busy (a transaction holds the only one), a request waits for a connection only as long as
// its context allows, and is served once the connection is back.
func TestOpenPostgres_PoolWaiterHonoursItsContext(t *testing.T) {
	db := gormtest.NewDatabase(t, gormtest.Postgres)
	opts := gormtest.DefaultOptions(t)
	opts.PostgresMaxOpenConns = 1
	s, err := gormstore.OpenPostgres(context.Background(), db.DSN, opts)
	must(t, err)
	defer s.Close()
	must(t, s.Migrate(context.Background()))

	txCtx, err := s.BeginTX(context.Background())
	must(t, err)
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.GetAccessTokenSession(c, "unknown-signature", nil)
	waited := time.Since(start)
	if err == nil || errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("a read with the pool's only connection held = %v; want the context's error", err)
	}
	if waited > 5*time.Second {
		t.Errorf("the read waited %v for a connection; its context ended after 200 ms", waited)
	}
	must(t, s.Rollback(txCtx))
	if _, err := s.GetAccessTokenSession(context.Background(), "unknown-signature", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("the read once the connection is back = %v; want fosite.ErrNotFound", err)
	}
}
