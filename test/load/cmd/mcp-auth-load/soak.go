package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver for -postgres

	"github.com/fosite-mcp/fosite-mcp/test/load"
)

// runSoak is mcp-auth-load soak: minutes of mixed logins, bearer calls, refreshes and
// revocations with a time series of the server's RSS, threads, descriptors and database
// size.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcp-auth-load soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg load.SoakConfig
	var dbFile, postgres string
	fs.StringVar(&cfg.MCPURL, "url", "http://localhost:8080/mcp", "the protected MCP endpoint `URL`")
	fs.StringVar(&cfg.Target, "target", load.TargetFositeMCP, "kind of `server`")
	fs.StringVar(&cfg.Scope, "scope", "", "scope of the authorization requests (default: the target's)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "process `ID` of the server (on this machine): sample its RSS, threads and descriptors")
	fs.DurationVar(&cfg.Duration, "duration", load.DefaultSoakDuration, "how long the soak runs (at most "+load.MaxSoakDuration.String()+")")
	fs.DurationVar(&cfg.Interval, "interval", load.DefaultSoakInterval, "sampling interval")
	fs.IntVar(&cfg.Concurrency, "c", load.DefaultSoakConcurrency, "number of `workers`")
	fs.IntVar(&cfg.BearerCalls, "bearer-calls", load.DefaultSoakBearerCalls, "MCP pings per login `cycle`")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", load.DefaultRedirectURI, "redirect `URI` of the workers' clients (never requested)")
	fs.DurationVar(&cfg.Timeout, "timeout", load.DefaultTimeout, "time limit of one HTTP request")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not on this machine")
	fs.StringVar(&dbFile, "db-file", "", "the server's SQLite database `file`, whose size (with its -wal file) is sampled")
	fs.StringVar(&postgres, "postgres", "", "the server's PostgreSQL `DSN`, whose pg_database_size is sampled")
	h := &harness{}
	h.outputFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mcp-auth-load soak [flags]\n\n"+
			"Runs a mixed load (each worker: log in, open an MCP session, pings, a refresh, more pings,\n"+
			"close the session, revoke, check the revoked token is refused) for -duration and prints\n"+
			"a time series of the operations, errors, the server's RSS, threads, descriptors and\n"+
			"database size. The exit status is 0 only without errors.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := h.parse(fs, args, stderr); !ok {
		return code
	}
	if dbFile != "" && postgres != "" {
		fmt.Fprintln(stderr, "mcp-auth-load soak: -db-file and -postgres exclude each other")
		return 2
	}
	cfg.Logger = h.logger(stderr)
	switch {
	case dbFile != "":
		cfg.DBSize = func(context.Context) (int64, error) { return sqliteSize(dbFile) }
	case postgres != "":
		db, err := sql.Open("pgx", postgres)
		if err != nil {
			fmt.Fprintln(stderr, "mcp-auth-load soak:", err)
			return 2
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		cfg.DBSize = func(ctx context.Context) (int64, error) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var n int64
			err := db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
			return n, err
		}
	}
	rep, err := load.Soak(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(stderr, "mcp-auth-load soak:", err)
		return 2
	}
	return h.report(rep, rep.WriteText, err, rep.Errors > 0, stdout, stderr)
}

// sqliteSize is the size of a SQLite database: the file and its write-ahead log.
func sqliteSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	n := st.Size()
	if wal, err := os.Stat(path + "-wal"); err == nil {
		n += wal.Size()
	}
	return n, nil
}
