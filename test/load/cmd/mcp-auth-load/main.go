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

// run parses args, runs the load (or, with the first argument compare or soak, that
// subcommand) and writes the report; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "compare":
			return runCompare(ctx, args[1:], stdout, stderr)
		case "soak":
			return runSoak(ctx, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("mcp-auth-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg load.Config
	fs.StringVar(&cfg.MCPURL, "url", "http://localhost:8080/mcp", "the protected MCP endpoint `URL` (its metadata names the authorization server)")
	fs.StringVar(&cfg.Scope, "scope", "", "scope of the authorization requests (default: the resource's default scopes; -target ts-model: the scopes its metadata lists)")
	fs.StringVar(&cfg.Target, "target", load.TargetFositeMCP, "kind of `server`: "+strings.Join(load.Targets, " or "))
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "process ID of the server (on this machine): report its RSS and threads after each phase and level, and its CPU time per operation")
	fs.Func("helper-pid", "`PID` of a process whose CPU time (with its children's) counts as the server's, e.g. PostgreSQL's postmaster (repeatable)", pidList(&cfg.HelperPIDs))
	h := harnessFlags(fs, &cfg, load.DefaultBearerMethod)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mcp-auth-load [flags]\n"+
			"       mcp-auth-load compare -h | soak -h\n\n"+
			"Loads a running fosite-mcp deployment (which must auto-approve authorization requests\n"+
			"and not rate-limit, e.g. go run ./cmd/demo -auto-approve alice -rate-limit=false) over HTTP: logins, bearer-authenticated MCP\n"+
			"requests and refresh-token rotations, and reports throughput and latency per phase.\n"+
			"compare runs the same phases on two servers (ours and the TypeScript model), soak a mixed load for minutes.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := h.parse(fs, args, stderr); !ok {
		return code
	}
	rep, err := load.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(stderr, "mcp-auth-load:", err)
		return 2
	}
	failed := false
	for _, res := range rep.Results {
		failed = failed || res.Errors > 0
	}
	return h.report(rep, rep.WriteText, err, failed, stdout, stderr)
}

// harness holds the flags every subcommand shares.
type harness struct {
	cfg         *load.Config
	phases      string
	concurrency string
	jsonOut     bool
	jsonFile    string
	quiet       bool
}

// harnessFlags defines the flags that shape the load (phases, levels, duration, …) and
// the output on fs, for cfg.
func harnessFlags(fs *flag.FlagSet, cfg *load.Config, bearerMethod string) *harness {
	h := &harness{cfg: cfg}
	fs.StringVar(&h.phases, "phases", strings.Join(load.Phases, ","), "comma-separated `phases` to run, in order: login, bearer, refresh")
	fs.StringVar(&h.concurrency, "c", "1", "comma-separated concurrency `levels`, each phase runs at each (at most "+strconv.Itoa(load.MaxConcurrency)+")")
	fs.DurationVar(&cfg.Duration, "duration", load.DefaultDuration, "how long each phase runs at each level (phases × levels × duration ≤ "+load.MaxTotalDuration.String()+")")
	fs.IntVar(&cfg.Requests, "n", 0, "end a phase at a level after this many `operations` (0: only -duration ends it)")
	fs.StringVar(&cfg.BearerMethod, "bearer-method", bearerMethod, "MCP `method` of the bearer phase: "+strings.Join(load.BearerMethods, ", "))
	fs.BoolVar(&cfg.ReuseClient, "reuse-client", false, "login phase: each worker registers one client at setup instead of one per login")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", load.DefaultRedirectURI, "redirect `URI` of the workers' clients (never requested)")
	fs.DurationVar(&cfg.Timeout, "timeout", load.DefaultTimeout, "time limit of one HTTP request")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not on this machine (loopback only by default)")
	h.outputFlags(fs)
	return h
}

// outputFlags defines -json, -json-file and -q.
func (h *harness) outputFlags(fs *flag.FlagSet) {
	fs.BoolVar(&h.jsonOut, "json", false, "write the report as JSON instead of a table")
	fs.StringVar(&h.jsonFile, "json-file", "", "also write the report as JSON to this `file`")
	fs.BoolVar(&h.quiet, "q", false, "no progress on stderr")
}

// parse parses args into the flags and the configuration; when it returns false, the
// command exits with the status it returns.
func (h *harness) parse(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcp-auth-load: unexpected argument %q\n", fs.Arg(0))
		return 2, false
	}
	if h.cfg != nil {
		h.cfg.Phases = splitList(h.phases)
		for _, s := range splitList(h.concurrency) {
			n, err := strconv.Atoi(s)
			if err != nil {
				fmt.Fprintf(stderr, "mcp-auth-load: -c %q: not a number\n", s)
				return 2, false
			}
			h.cfg.Concurrency = append(h.cfg.Concurrency, n)
		}
		if h.cfg.Duration <= 0 {
			fmt.Fprintln(stderr, "mcp-auth-load: -duration must be positive")
			return 2, false
		}
		h.cfg.Logger = h.logger(stderr)
	}
	return 0, true
}

// logger is the progress logger: info on stderr, warnings only with -q.
func (h *harness) logger(stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if h.quiet {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// report writes v as JSON (-json, -json-file) or as text (writeText), then the run's
// error; it returns the exit status: 0 when nothing failed.
func (h *harness) report(v any, writeText func(io.Writer) error, err error, failed bool, stdout, stderr io.Writer) int {
	raw, werr := json.MarshalIndent(v, "", "  ")
	if werr == nil && h.jsonFile != "" {
		werr = os.WriteFile(h.jsonFile, append(raw, '\n'), 0o644)
	}
	if werr == nil {
		if h.jsonOut {
			_, werr = stdout.Write(append(raw, '\n'))
		} else {
			werr = writeText(stdout)
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
	if failed {
		return 1
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
