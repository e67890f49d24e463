// Package official runs the official MCP conformance suite (@modelcontextprotocol/conformance,
// `authorization` command: the authorization-server-metadata-endpoint and
// authorization-code-grant scenarios) against the real demo server (./cmd/demo with
// -auto-approve, built and run as a subprocess, with opaque and with JWT access tokens)
// and against the in-process stack, playing the user's browser for the authorization
// URL it prints. Every check must succeed, the CIMD metadata check included. Run it with
// `make conformance-official`, which installs the suite (install.sh) and sets
// FOSITE_MCP_OFFICIAL_CONFORMANCE=1; without that variable the tests are skipped.
package official

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
)

// EnvRun turns the test on.
const EnvRun = "FOSITE_MCP_OFFICIAL_CONFORMANCE"

// officialCheck is one entry of the suite's checks.json.
type officialCheck struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

// demoBinary is ./cmd/demo, built at most once per test binary into a directory
// TestMain removes.
var demoBinary *demoproc.Binary

func TestMain(m *testing.M) { os.Exit(demoproc.Main(m, &demoBinary)) }

// TestOfficialConformance runs `conformance authorization` with both scenarios against
// the demo server (`demo -auto-approve alice`, a subprocess) on SQLite and PostgreSQL,
// with a public client registered through the demo's dynamic client registration, and
// requires every check to succeed (requireSuccess).
func TestOfficialConformance(t *testing.T) {
	node, suite := official(t)
	bin := demoBinary.Path(t)
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		d := demoproc.Start(t, bin, demoproc.Options{DB: db, AutoApprove: demoproc.User, Args: []string{"-rate-limit=false"}})
		clientID := d.RegisterPublicClient(t, "MCP conformance suite", "http://127.0.0.1/callback") // loopback: any port
		checks := runOfficial(t, node, suite, d.Issuer, d.MCPURL, clientID)
		requireSuccess(t, checks)
	})
}

// TestOfficialConformance_DemoJWT runs the same against the demo with -access-tokens jwt
// (RFC 9068 JWT access tokens) on SQLite.
func TestOfficialConformance_DemoJWT(t *testing.T) {
	node, suite := official(t)
	bin := demoBinary.Path(t)
	d := demoproc.Start(t, bin, demoproc.Options{AutoApprove: demoproc.User, Args: []string{"-rate-limit=false", "-access-tokens", "jwt"}})
	clientID := d.RegisterPublicClient(t, "MCP conformance suite", "http://127.0.0.1/callback")
	requireSuccess(t, runOfficial(t, node, suite, d.Issuer, d.MCPURL, clientID))
}

// requireSuccess requires every check to succeed, the client ID metadata document one
// (authorization-server-metadata-cimd, client_id_metadata_document_supported) included:
// the demo and the stack advertise CIMD, and nothing is tolerated.
func requireSuccess(t *testing.T, checks []officialCheck) {
	t.Helper()
	if len(checks) < 3 {
		t.Errorf("only %d checks ran: %+v", len(checks), checks)
	}
	sawCIMD := false
	for _, c := range checks {
		sawCIMD = sawCIMD || c.ID == "authorization-server-metadata-cimd"
		if c.Status == "SUCCESS" {
			t.Logf("SUCCESS  %s: %s", c.ID, c.Description)
		} else {
			t.Errorf("%s  %s: %s: %s", c.Status, c.ID, c.Description, c.ErrorMessage)
		}
	}
	if !sawCIMD {
		t.Error("the suite ran no authorization-server-metadata-cimd check")
	}
}

// TestOfficialConformance_Stack runs the same against the in-process stack (the library
// configured directly, with a pre-registered client) on SQLite and PostgreSQL.
func TestOfficialConformance_Stack(t *testing.T) {
	node, suite := official(t)
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		st := teststack.Start(t, teststack.Conformance(s, teststack.ConformanceOptions{}))
		client, _, err := st.Server.Provider().CreateClient(context.Background(), provider.ClientSpec{
			ID: "official-conformance", Name: "MCP conformance suite", Public: true,
			RedirectURIs: []string{"http://127.0.0.1/callback"}, // loopback: any port
		})
		if err != nil {
			t.Fatal(err)
		}
		checks := runOfficial(t, node, suite, st.Issuer, st.MCPURL, client.ID)
		requireSuccess(t, checks)
	})
}

// TestOfficialConformance_CanFail: against a server whose token responses lack
// Cache-Control: no-store the official suite reports the code grant as failed, and this
// harness sees it.
func TestOfficialConformance_CanFail(t *testing.T) {
	node, suite := official(t)
	s := gormtest.Open(t, gormtest.SQLite)
	st := teststack.Start(t, teststack.Conformance(s, teststack.ConformanceOptions{Wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, provider.TokenPath) {
				w = dropCacheControl{w}
			}
			h.ServeHTTP(w, r)
		})
	}}))
	client, _, err := st.Server.Provider().CreateClient(context.Background(), provider.ClientSpec{
		ID: "official-conformance", Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := runOfficialExpectingFailure(t, node, suite, st.Issuer, st.MCPURL, client.ID)
	for _, c := range checks {
		if c.ID == "authorization-code-grant" {
			if c.Status != "FAILURE" || !strings.Contains(c.ErrorMessage, "Cache-Control") {
				t.Errorf("authorization-code-grant: %s %q, want FAILURE about Cache-Control", c.Status, c.ErrorMessage)
			}
			return
		}
	}
	t.Errorf("no authorization-code-grant check in %+v", checks)
}

type dropCacheControl struct{ http.ResponseWriter }

func (d dropCacheControl) WriteHeader(code int) {
	d.Header().Del("Cache-Control")
	d.ResponseWriter.WriteHeader(code)
}

func (d dropCacheControl) Write(b []byte) (int, error) {
	d.Header().Del("Cache-Control")
	return d.ResponseWriter.Write(b)
}

// official skips the test unless EnvRun is set and returns the Node binary and the
// suite's entry point.
func official(t *testing.T) (node, suite string) {
	t.Helper()
	if os.Getenv(EnvRun) != "1" {
		t.Skipf("set %s=1 (make conformance-official) to run the official conformance suite", EnvRun)
	}
	node, err := filepath.Abs("node_modules/.bin/node")
	if err != nil {
		t.Fatal(err)
	}
	suite, _ = filepath.Abs("node_modules/@modelcontextprotocol/conformance/dist/index.js")
	for _, p := range []string{node, suite} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%v: run test/conformance/official/install.sh first", err)
		}
	}
	return node, suite
}

func runOfficial(t *testing.T, node, suite, issuer, mcpURL, clientID string) []officialCheck {
	t.Helper()
	return run(t, node, suite, issuer, mcpURL, clientID, false)
}

func runOfficialExpectingFailure(t *testing.T, node, suite, issuer, mcpURL, clientID string) []officialCheck {
	t.Helper()
	return run(t, node, suite, issuer, mcpURL, clientID, true)
}

// run runs the suite against the authorization server issuer (for the MCP server
// mcpURL) and returns the checks of every scenario.
func run(t *testing.T, node, suite, issuer, mcpURL, clientID string, expectFailure bool) []officialCheck {
	t.Helper()
	port := freePort(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, suite, "authorization",
		"--url", issuer, "--client-id", clientID, "--resource", mcpURL,
		"--port", strconv.Itoa(port), "--output-dir", out)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	var wg sync.WaitGroup
	var driveErr error
	authPrefix := issuer + provider.AuthorizePath + "?"
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	// The suite prints the authorization URL, then starts its callback server: browse
	// once both happened.
	var authURL string
	listening, started := false, false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		log.WriteString(line + "\n")
		switch {
		case strings.HasPrefix(line, authPrefix):
			authURL = line
		case strings.HasPrefix(line, "Callback server started"):
			listening = true
		}
		if authURL != "" && listening && !started {
			started = true
			wg.Add(1)
			go func(u string) {
				defer wg.Done()
				if driveErr = browse(ctx, u, port); driveErr != nil {
					cancel() // the suite would wait five minutes for the callback
				}
			}(authURL)
		}
	}
	waitErr := cmd.Wait()
	wg.Wait()
	t.Logf("conformance output:\n%s", log.String())
	if driveErr != nil {
		t.Errorf("driving the authorization URL: %v", driveErr)
	}
	if (waitErr != nil) != expectFailure {
		t.Errorf("conformance exited: %v (expected a failure: %v)\nstderr: %s", waitErr, expectFailure, stderr.String())
	}
	var checks []officialCheck
	err = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "checks.json" {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var cs []officialCheck
		if err := json.Unmarshal(raw, &cs); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		checks = append(checks, cs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return checks
}

// browse plays the user's browser: it opens the authorization URL, follows the
// authorization server's redirects (it approves at once) and delivers the authorization
// response to the suite's callback server on 127.0.0.1:port.
func browse(ctx context.Context, authURL string, port int) error {
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	callback := fmt.Sprintf("http://127.0.0.1:%d/callback", port)
	next := authURL
	for hop := 0; hop < 10; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", redactCode(req.URL), errors.Unwrap(err))
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if strings.HasPrefix(next, callback) {
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("callback server answered %d: %s", resp.StatusCode, body)
			}
			return nil
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || loc == "" {
			return fmt.Errorf("GET %s: %d without redirect: %s", next, resp.StatusCode, body)
		}
		u, err := req.URL.Parse(loc)
		if err != nil {
			return err
		}
		next = u.String()
		if q, _ := url.ParseQuery(u.RawQuery); strings.HasPrefix(next, callback) && q.Get("code") == "" {
			return fmt.Errorf("authorization failed: %s", redactCode(u))
		}
	}
	return fmt.Errorf("too many redirects")
}

func redactCode(u *url.URL) string {
	q := u.Query()
	if q.Has("code") {
		q.Set("code", "redacted")
	}
	v := *u
	v.RawQuery = q.Encode()
	return v.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
