// Command fosite-floor measures what a refresh-token rotation costs over HTTP with
// nothing of fosite-mcp in it: fosite's own refresh grant (HMAC tokens, rotation) on
// fosite's in-memory store behind net/http, on loopback, no database, no logs. It is the
// floor under issue 9's refresh ratio (test/load/README.md, "Issue 9, session 16"):
// what any server built on fosite pays per refresh before it stores anything durably.
//
//	go run ./test/load/cmd/fosite-floor -c 8,32 -duration 8s
//	go run ./test/load/cmd/fosite-floor -c 8,32 -duration 8s -journal /tmp/floor.log
//
// The server runs as a child process (this binary again), so the server CPU time per
// refresh it prints is the server's alone, as mcp-auth-load reports it for a demo. Each
// of c workers rotates its own refresh token back to back. fosite's MemoryStore is not
// safe for concurrent rotations (fosite v0.49.0: its token maps are read without the
// lock), so the child serves one token request at a time; at c=32 the lock costs less
// than a tenth of the CPU per refresh. -journal makes the child append each response's
// new request, JSON-encoded, to a file with one write: what a memory-first store that
// logs every change would at least add.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"

	"github.com/fosite-mcp/fosite-mcp/test/load"
)

// childEnv, when set in the environment, makes the process the server child: it
// listens on 127.0.0.1, prints its address on stdout and serves until it is signalled.
// The value is the journal file ("-" for none).
const childEnv = "FOSITE_FLOOR_SERVE"

// clientID is the one public client the floor's tokens belong to.
const clientID = "floor"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if journal, ok := os.LookupEnv(childEnv); ok {
		code = serveChild(ctx, journal, os.Stdout, os.Stderr)
	} else {
		code = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}

// run parses args, starts the server child, drives it at each level and prints one line
// per level; it returns the exit status (2 for bad flags, 1 for a failed run).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fosite-floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	levels := fs.String("c", "8,32", "comma-separated concurrency `levels`")
	duration := fs.Duration("duration", 8*time.Second, "how long each level runs")
	journal := fs.String("journal", "", "append each response's new request to this `file`, one write per refresh")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	conc, err := parseLevels(*levels)
	if err == nil && (*duration <= 0 || *duration > time.Minute) {
		err = fmt.Errorf("-duration %s: want more than 0 and at most 1m", *duration)
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(stderr, "fosite-floor:", err)
		return 2
	}
	if *journal == "" {
		*journal = "-"
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "fosite-floor:", err)
		return 1
	}
	child := exec.CommandContext(ctx, self)
	child.Env = append(os.Environ(), childEnv+"="+*journal)
	child.Stderr = stderr
	out, err := child.StdoutPipe()
	if err == nil {
		err = child.Start()
	}
	if err != nil {
		fmt.Fprintln(stderr, "fosite-floor: server:", err)
		return 1
	}
	defer func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		_ = child.Wait()
	}()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		fmt.Fprintln(stderr, "fosite-floor: server did not start:", err)
		return 1
	}
	base := "http://" + strings.TrimSpace(addr)
	fmt.Fprintf(stdout, "fosite %s refresh grant, MemoryStore, net/http; journal: %s\n", fositeVersion(), *journal)
	for _, c := range conc {
		res, err := drive(ctx, base, c, *duration, child.Process.Pid)
		if err != nil {
			fmt.Fprintln(stderr, "fosite-floor:", err)
			return 1
		}
		fmt.Fprintf(stdout, "c=%-3d %7.0f refreshes/s  server CPU %.3f ms/refresh  (%d in %s)\n",
			c, res.perSecond(), res.cpuPerOp().Seconds()*1000, res.ops, res.elapsed.Round(time.Millisecond))
	}
	return 0
}

// fositeVersion is the version of fosite this binary was built with, as its build
// information records it.
func fositeVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/ory/fosite" {
				return dep.Version
			}
		}
	}
	return "(version unknown)"
}

func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > load.MaxConcurrency {
			return nil, fmt.Errorf("-c %q: want numbers from 1 to %d", s, load.MaxConcurrency)
		}
		out = append(out, n)
	}
	return out, nil
}

// serveChild is the server child's life: listen, say where, serve until ctx ends.
func serveChild(ctx context.Context, journal string, stdout, stderr io.Writer) int {
	var j io.Writer
	if journal != "-" {
		f, err := os.OpenFile(journal, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintln(stderr, "fosite-floor: journal:", err)
			return 1
		}
		defer f.Close()
		j = f
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "fosite-floor:", err)
		return 1
	}
	srv := &http.Server{Handler: newServer(j), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(stdout, ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "fosite-floor:", err)
		return 1
	}
	return 0
}

// newServer is fosite's refresh grant on its in-memory store: POST /token rotates a
// refresh token, POST /seed?n=N issues N token pairs without a login. With journal
// non-nil each successful rotation's new request is appended to it, JSON-encoded.
func newServer(journal io.Writer) http.Handler {
	store := storage.NewMemoryStore()
	store.Clients[clientID] = &fosite.DefaultClient{
		ID: clientID, Public: true,
		GrantTypes: []string{"refresh_token"}, Scopes: []string{"offline_access", "mcp"},
	}
	cfg := &fosite.Config{
		GlobalSecret:         []byte("fosite-floor's HMAC secret, 32+ bytes"),
		AccessTokenLifespan:  time.Hour,
		RefreshTokenLifespan: 24 * time.Hour,
	}
	strategy := compose.NewOAuth2HMACStrategy(cfg)
	provider := compose.Compose(cfg, store, &compose.CommonStrategy{CoreStrategy: strategy},
		compose.OAuth2RefreshTokenGrantFactory)

	var mu sync.Mutex // MemoryStore's rotations are not safe concurrently (see the package doc)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /seed", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 || n > load.MaxConcurrency {
			http.Error(w, "n: want 1 to "+strconv.Itoa(load.MaxConcurrency), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		ctx := r.Context()
		tokens := make([]string, 0, n)
		for i := range n {
			req := fosite.NewRequest()
			req.SetID(fmt.Sprintf("seed-%d-%d", time.Now().UnixNano(), i))
			req.Client = store.Clients[clientID]
			req.Session = &fosite.DefaultSession{Subject: "alice"}
			req.SetRequestedScopes(fosite.Arguments{"offline_access", "mcp"})
			req.GrantScope("offline_access")
			req.GrantScope("mcp")
			_, accessSig, err := strategy.GenerateAccessToken(ctx, req)
			if err == nil {
				err = store.CreateAccessTokenSession(ctx, accessSig, req)
			}
			refresh, refreshSig, err2 := strategy.GenerateRefreshToken(ctx, req)
			if err == nil && err2 == nil {
				err = store.CreateRefreshTokenSession(ctx, refreshSig, accessSig, req)
			}
			if err != nil || err2 != nil {
				http.Error(w, "seed failed", http.StatusInternalServerError)
				return
			}
			tokens = append(tokens, refresh)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(tokens)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		resp, err := provider.NewAccessResponse(ctx, ar)
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		if journal != nil {
			rec, err := json.Marshal(ar)
			if err == nil {
				_, err = journal.Write(append(rec, '\n'))
			}
			if err != nil {
				http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
				return
			}
		}
		provider.WriteAccessResponse(ctx, w, ar, resp)
	})
	return mux
}

// result is one level's measurement.
type result struct {
	ops     int64
	elapsed time.Duration
	cpu     time.Duration // the server process's CPU time over the level
}

func (r result) perSecond() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r result) cpuPerOp() time.Duration {
	if r.ops == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ops)
}

// drive seeds c token pairs on the server at base and has c workers rotate them back to
// back for d; it fails at the first refresh that does not rotate. serverPID's CPU time
// is sampled around the level.
func drive(ctx context.Context, base string, c int, d time.Duration, serverPID int) (result, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(base+"/seed?n="+strconv.Itoa(c), "", nil)
	if err != nil {
		return result{}, err
	}
	var tokens []string
	err = json.NewDecoder(resp.Body).Decode(&tokens)
	resp.Body.Close()
	if err != nil || len(tokens) != c {
		return result{}, fmt.Errorf("seed: status %d, %d tokens, %v", resp.StatusCode, len(tokens), err)
	}
	cpu0, err := load.ProcessCPU([]int{serverPID}, false)
	if err != nil {
		return result{}, err
	}
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ops atomic.Int64
	errs := make(chan error, c)
	start := time.Now()
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				next, err := rotate(lctx, hc, base, tok)
				if err != nil {
					if lctx.Err() == nil {
						errs <- err
					}
					return
				}
				tok = next
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := load.ProcessCPU([]int{serverPID}, false)
	if err != nil {
		return result{}, err
	}
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	return result{ops: ops.Load(), elapsed: elapsed, cpu: cpu1 - cpu0}, nil
}

// rotate redeems refresh at base's token endpoint and returns the new refresh token.
func rotate(ctx context.Context, hc *http.Client, base, refresh string) (string, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("refresh: status %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || body.RefreshToken == "" || body.RefreshToken == refresh {
		return "", fmt.Errorf("refresh: status %d, error %q: no new refresh token", resp.StatusCode, body.Error)
	}
	return body.RefreshToken, nil
}
