// Package demoproc runs the real demo server (./cmd/demo) as a subprocess for the
// conformance tests (test/conformance) and the load harness's smoke test (test/load): built once per test binary with `go build`, started on a fresh
// loopback port with its own SQLite file or PostgreSQL schema and secrets file, waited
// for through /healthz, and stopped with SIGTERM (a graceful shutdown that must exit 0)
// at the test's cleanup. The suites then see exactly what a user of
// `go run ./cmd/demo` sees, over HTTP only.
package demoproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/syncbuf"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Demo users with their well-known loopback passwords (cmd/demo/users.go).
const (
	User     = "alice"
	Password = "wonderland"
)

// Binary builds ./cmd/demo at most once into a directory and hands out the path.
// Build it without -race even when the tests run with it: the subprocess's own races
// are the demo's tests' business, and a race build costs much more time.
type Binary struct {
	dir  string
	once sync.Once
	path string
	err  error
}

// NewBinary returns a Binary that builds into dir (which the caller removes).
func NewBinary(dir string) *Binary { return &Binary{dir: dir} }

// Path builds the demo on the first call and returns the binary's path; a build failure
// fails tb (and every later caller).
func (b *Binary) Path(tb testing.TB) string {
	tb.Helper()
	b.once.Do(func() { b.path, b.err = build(b.dir) })
	if b.err != nil {
		tb.Fatalf("building ./cmd/demo: %v", b.err)
	}
	return b.path
}

// build runs `go build -o dir/demo ./cmd/demo` in the module root.
func build(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return "", errors.New("go env GOMOD: not in a module")
	}
	out := filepath.Join(dir, "demo")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/demo")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, msg)
	}
	return out, nil
}

// Options configure Start.
type Options struct {
	// DB is the database: a SQLite file or a PostgreSQL schema (gormtest.NewDatabase).
	// Default a fresh SQLite file.
	DB gormtest.Database
	// AutoApprove is the -auto-approve user; empty shows the login and consent pages.
	AutoApprove string
	// Args are extra flags.
	Args []string
}

// Demo is a running demo server.
type Demo struct {
	// Issuer is the authorization server's issuer and the server's base URL,
	// http://127.0.0.1:PORT.
	Issuer string
	// MCPURL is the MCP endpoint, Issuer + "/mcp".
	MCPURL string

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after done
	stdout syncbuf.Buffer
	stderr syncbuf.Buffer
}

// Start starts the demo binary bin with opts on a fresh loopback port and waits until
// /healthz answers. At tb's cleanup it sends SIGTERM and requires a clean exit within
// 15 s; the server's output is logged when tb failed.
func Start(tb testing.TB, bin string, opts Options) *Demo {
	tb.Helper()
	db := opts.DB
	if db.Backend == "" {
		db = gormtest.NewDatabase(tb, gormtest.SQLite)
	}
	dir := tb.TempDir()
	args := []string{
		"-addr", "127.0.0.1:0", // the issuer follows the bound port
		"-secrets", filepath.Join(dir, "demo.secrets"),
	}
	switch db.Backend {
	case gormtest.Postgres:
		args = append(args, "-postgres", db.DSN, "-db", filepath.Join(dir, "unused.db"))
	default:
		args = append(args, "-db", db.Path)
	}
	if opts.AutoApprove != "" {
		args = append(args, "-auto-approve", opts.AutoApprove)
	}
	args = append(args, opts.Args...)

	d := &Demo{done: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("starting the demo: %v", err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	tb.Cleanup(func() { d.stop(tb) })

	// The banner names the MCP URL, the issuer and the storage.
	var b banner
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b = parseBanner(d.stdout.String()); b.complete() {
			break
		}
		select {
		case <-d.done:
			tb.Fatalf("the demo exited at start: %v\nstdout:\n%s\nstderr:\n%s", d.err, d.stdout.String(), d.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the demo printed no banner within 30 s\nstderr:\n%s", d.stderr.String())
		}
	}
	d.MCPURL, d.Issuer = b.mcpURL, b.issuer
	if err := d.waitHealthy(15 * time.Second); err != nil {
		tb.Fatalf("%v\nstderr:\n%s", err, d.stderr.String())
	}
	// Make sure the flags selected the database.
	wantStorage := "SQLite " + db.Path
	if db.Backend == gormtest.Postgres {
		wantStorage = "PostgreSQL"
	}
	if b.storage != wantStorage {
		tb.Fatalf("the demo uses storage %q, want %q", b.storage, wantStorage)
	}
	return d
}

// banner is what the demo's start banner says.
type banner struct{ mcpURL, issuer, storage string }

func (b banner) complete() bool { return b.mcpURL != "" && b.issuer != "" && b.storage != "" }

// parseBanner reads the "MCP server", "Issuer" and "Storage" lines of the banner.
func parseBanner(out string) banner {
	var b banner
	out = out[:strings.LastIndex(out, "\n")+1] // complete lines only
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		for prefix, field := range map[string]*string{"MCP server ": &b.mcpURL, "Issuer ": &b.issuer, "Storage ": &b.storage} {
			if v, ok := strings.CutPrefix(line, prefix); ok && *field == "" {
				*field = strings.TrimSpace(v)
			}
		}
	}
	return b
}

// waitHealthy polls /healthz until it answers 200.
func (d *Demo) waitHealthy(limit time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("the demo exited: %v", d.err)
		default:
		}
		resp, err := hc.Get(d.Issuer + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s/healthz did not answer 200 within %s: %s", d.Issuer, limit, last)
}

// stop sends SIGTERM and requires a clean exit.
func (d *Demo) stop(tb testing.TB) {
	select {
	case <-d.done:
		tb.Errorf("the demo exited before the test ended: %v", d.err)
	default:
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			tb.Errorf("SIGTERM: %v", err)
		}
		select {
		case <-d.done:
			if d.err != nil {
				tb.Errorf("the demo did not shut down cleanly: %v", d.err)
			}
		case <-time.After(15 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
			tb.Errorf("the demo did not stop within 15 s of SIGTERM")
		}
	}
	if tb.Failed() {
		tb.Logf("demo stdout:\n%s\ndemo stderr:\n%s", d.stdout.String(), d.stderr.String())
	}
}

// Logs returns what the demo has written to stderr so far (its request logs).
func (d *Demo) Logs() string { return d.stderr.String() }

// PID is the demo process's ID, for tests that watch the server process from outside
// (the load harness samples its memory and threads from /proc).
func (d *Demo) PID() int { return d.cmd.Process.Pid }

// ASMetadata fetches the authorization server metadata from the RFC 8414 well-known URL
// of the issuer (a root issuer: no path to insert).
func (d *Demo) ASMetadata(ctx context.Context) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Issuer+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", req.URL, err)
	}
	return m, nil
}

// CIMDAdvertised reports whether the demo's metadata advertises client ID metadata
// documents (client_id_metadata_document_supported: true).
func (d *Demo) CIMDAdvertised(tb testing.TB) bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := d.ASMetadata(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return m["client_id_metadata_document_supported"] == true
}

// RegisterPublicClient registers a public client (token_endpoint_auth_method none)
// with redirectURIs through dynamic client registration and returns its client_id.
func (d *Demo) RegisterPublicClient(tb testing.TB, name string, redirectURIs ...string) string {
	tb.Helper()
	return d.RegisterClient(tb, map[string]any{
		"client_name":                name,
		"redirect_uris":              redirectURIs,
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
	})
}

// RegisterClient registers a client with the RFC 7591 metadata through dynamic client
// registration and returns its client_id.
func (d *Demo) RegisterClient(tb testing.TB, metadata map[string]any) string {
	tb.Helper()
	body, _ := json.Marshal(metadata)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := d.ASMetadata(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	endpoint, _ := m["registration_endpoint"].(string)
	if endpoint == "" {
		tb.Fatal("the demo advertises no registration_endpoint")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var reg struct {
		ClientID string `json:"client_id"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &reg) != nil || reg.ClientID == "" {
		tb.Fatalf("registration: %s: %s", resp.Status, raw)
	}
	return reg.ClientID
}

// Main is a TestMain for packages that start the demo: it sets *bin to a Binary that
// builds ./cmd/demo at most once, into a temporary directory, runs the tests and removes
// the directory. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(demoproc.Main(m, &demoBinary)) }
func Main(m *testing.M, bin **Binary) int {
	dir, err := os.MkdirTemp("", "fosite-mcp-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = NewBinary(dir)
	return m.Run()
}
