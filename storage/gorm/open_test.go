package gormstore_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

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
