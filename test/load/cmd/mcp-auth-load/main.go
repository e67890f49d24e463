// Command mcp-auth-load puts load on a running fosite-mcp deployment over HTTP: logins
// (dynamic registration, authorization, code exchange), authenticated MCP requests and
// refresh-token rotations, each phase at one or more concurrency levels for a bounded
// time, and prints throughput and latency percentiles per phase (package
// github.com/fosite-mcp/fosite-mcp/test/load says exactly what each phase measures).
//
// The target must approve authorization requests at once and must not rate-limit the
// harness's address, e.g. the demo:
//
//	go run ./cmd/demo -addr 127.0.0.1:8080 -auto-approve alice -rate-limit=false
//	go run ./test/load/cmd/mcp-auth-load -url http://127.0.0.1:8080/mcp -c 1,8 -duration 10s
//
// Only loopback targets (127.0.0.0/8, ::1, localhost) are accepted unless
// -allow-remote is given. Concurrency is capped at 256 and the measured time of a run
// (phases × levels × duration) at 5 minutes; Ctrl-C stops it and prints what was
// measured so far. The exit status is 0 when every operation succeeded, 1 when some
// failed or the run stopped early, 2 for bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/fosite-mcp/fosite-mcp/test/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the load and writes the report; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcp-auth-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg         load.Config
		phases      string
		concurrency string
		jsonOut     bool
		jsonFile    string
		quiet       bool
	)
	fs.StringVar(&cfg.MCPURL, "url", "http://localhost:8080/mcp", "the protected MCP endpoint `URL` (its metadata names the authorization server)")
	fs.StringVar(&phases, "phases", strings.Join(load.Phases, ","), "comma-separated `phases` to run, in order: login, bearer, refresh")
	fs.StringVar(&concurrency, "c", "1", "comma-separated concurrency `levels`, each phase runs at each (at most "+strconv.Itoa(load.MaxConcurrency)+")")
	fs.DurationVar(&cfg.Duration, "duration", load.DefaultDuration, "how long each phase runs at each level (phases × levels × duration ≤ "+load.MaxTotalDuration.String()+")")
	fs.IntVar(&cfg.Requests, "n", 0, "end a phase at a level after this many `operations` (0: only -duration ends it)")
	fs.StringVar(&cfg.Scope, "scope", "", "scope of the authorization requests (default: the resource's default scopes)")
	fs.StringVar(&cfg.BearerMethod, "bearer-method", load.DefaultBearerMethod, "MCP `method` of the bearer phase: "+strings.Join(load.BearerMethods, " or "))
	fs.StringVar(&cfg.Target, "target", load.TargetFositeMCP, "kind of `server`: "+strings.Join(load.Targets, " or ")+" (the TypeScript model: asks for the scopes its metadata lists when -scope is empty)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "process ID of the server (on this machine): report its RSS and threads after each phase and level")
	fs.BoolVar(&cfg.ReuseClient, "reuse-client", false, "login phase: each worker registers one client at setup instead of one per login")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", load.DefaultRedirectURI, "redirect `URI` of the workers' clients (never requested)")
	fs.DurationVar(&cfg.Timeout, "timeout", load.DefaultTimeout, "time limit of one HTTP request")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not on this machine (loopback only by default)")
	fs.BoolVar(&jsonOut, "json", false, "write the report as JSON instead of a table")
	fs.StringVar(&jsonFile, "json-file", "", "also write the report as JSON to this `file`")
	fs.BoolVar(&quiet, "q", false, "no progress on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mcp-auth-load [flags]\n\n"+
			"Loads a running fosite-mcp deployment (which must auto-approve authorization requests\n"+
			"and not rate-limit, e.g. go run ./cmd/demo -auto-approve alice -rate-limit=false) over HTTP: logins, bearer-authenticated MCP\n"+
			"requests and refresh-token rotations, and reports throughput and latency per phase.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcp-auth-load: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Phases = splitList(phases)
	for _, s := range splitList(concurrency) {
		n, err := strconv.Atoi(s)
		if err != nil {
			fmt.Fprintf(stderr, "mcp-auth-load: -c %q: not a number\n", s)
			return 2
		}
		cfg.Concurrency = append(cfg.Concurrency, n)
	}
	if cfg.Duration <= 0 {
		fmt.Fprintln(stderr, "mcp-auth-load: -duration must be positive")
		return 2
	}
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rep, err := load.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(stderr, "mcp-auth-load:", err)
		return 2
	}
	raw, werr := json.MarshalIndent(rep, "", "  ")
	if werr == nil && jsonFile != "" {
		werr = os.WriteFile(jsonFile, append(raw, '\n'), 0o644)
	}
	if werr == nil {
		if jsonOut {
			_, werr = stdout.Write(append(raw, '\n'))
		} else {
			werr = rep.WriteText(stdout)
		}
	}
	if werr != nil {
		fmt.Fprintln(stderr, "mcp-auth-load:", werr)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "mcp-auth-load:", err)
		return 1
	}
	for _, res := range rep.Results {
		if res.Errors > 0 {
			return 1
		}
	}
	return 0
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
