package load_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
	"github.com/fosite-mcp/fosite-mcp/test/load"
)

// Issue 9: Compare runs each phase and level on one server, then on the other, with
// the order alternating from cell to cell, and reports both with the ratio and each
// server's RSS. Two real demos stand in for ours and the model here (the comparison
// with the TypeScript model itself needs node: TestCompare_DemoAndTSModel).
func TestCompare_InterleavesCellsOnTwoRealServers(t *testing.T) {
	bin := demoBinary.Path(t)
	a := demoproc.Start(t, bin, demoproc.Options{AutoApprove: demoproc.User, Args: []string{"-rate-limit=false"}})
	b := demoproc.Start(t, bin, demoproc.Options{AutoApprove: demoproc.User, Args: []string{"-rate-limit=false"}})
	cmp, err := load.Compare(context.Background(),
		load.Config{Phases: []string{load.PhaseBearer, load.PhaseRefresh}, Concurrency: []int{1, 2}, Duration: 10 * time.Second, Requests: 20, BearerMethod: "initialize"},
		load.Side{Name: "ours", MCPURL: a.MCPURL, ServerPID: a.PID()},
		load.Side{Name: "model", MCPURL: b.MCPURL, Target: load.TargetFositeMCP, ServerPID: b.PID()})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Cells) != 4 {
		t.Fatalf("%d cells, want 2 phases × 2 levels", len(cmp.Cells))
	}
	for i, c := range cmp.Cells {
		wantFirst := []string{"ours", "model"}[i%2]
		if c.First != wantFirst {
			t.Errorf("cell %d (%s c=%d): %s ran first, want %s (alternating)", i, c.Phase, c.Concurrency, c.First, wantFirst)
		}
		for name, r := range map[string]load.Result{"ours": c.Ours, "model": c.Model} {
			if r.Phase != c.Phase || r.Concurrency != c.Concurrency || r.Operations != 20 || r.Errors != 0 {
				t.Errorf("cell %d %s: %s c=%d, %d operations, %d errors %v; want %s c=%d, 20, none", i, name,
					r.Phase, r.Concurrency, r.Operations, r.Errors, r.ErrorSamples, c.Phase, c.Concurrency)
			}
			if runtime.GOOS == "linux" && (r.Server == nil || r.Server.RSS <= 0 || r.Server.Threads <= 0) {
				t.Errorf("cell %d %s: server statistics %+v", i, name, r.Server)
			}
		}
		if c.Ratio() <= 0 {
			t.Errorf("cell %d: ratio %v", i, c.Ratio())
		}
	}
	// An initialize per operation on a stateful server: the session it opens is closed
	// in the same operation.
	if steps := stepNames(cmp.Cells[0].Ours); !slices.Equal(steps, []string{"mcp initialize", "mcp delete"}) {
		t.Errorf("bearer initialize steps %v", steps)
	}
	if r := cmp.Cells[0].Ours; r.Requests != 2*r.Operations {
		t.Errorf("bearer initialize: %d requests for %d operations, want 2 each", r.Requests, r.Operations)
	}
	raw, err := json.Marshal(cmp)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Cells []struct {
			Ratio float64 `json:"ratio_ops_per_s"`
			Ours  struct {
				Server struct {
					RSS int64 `json:"rss_bytes"`
				} `json:"server"`
			} `json:"ours"`
		} `json:"cells"`
		Duration float64 `json:"phase_duration_s"`
	}
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Cells) != 4 || back.Cells[0].Ratio <= 0 || back.Duration != 10 {
		t.Errorf("JSON %s: %v", raw, err)
	}
	var out strings.Builder
	if err := cmp.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "bearer, concurrency 2 (model ran first)") || !strings.Contains(out.String(), "RSS after, MiB") {
		t.Errorf("text report:\n%s", out.String())
	}
}

func stepNames(r load.Result) []string {
	var names []string
	for _, s := range r.Steps {
		names = append(names, s.Name)
	}
	return names
}

// Both sides are checked like Run's configuration before anything runs.
func TestCompare_RefusesABadSide(t *testing.T) {
	for name, model := range map[string]load.Side{
		"remote":         {Name: "model", MCPURL: "http://192.0.2.1/mcp"},
		"unknown target": {Name: "model", MCPURL: "http://127.0.0.1:1/mcp", Target: "python-model"},
	} {
		cmp, err := load.Compare(context.Background(), load.Config{}, load.Side{Name: "ours", MCPURL: "http://127.0.0.1:1/mcp"}, model)
		if err == nil || cmp != nil || !strings.Contains(err.Error(), "model:") {
			t.Errorf("%s: %v, %v; want an error naming the model side", name, cmp, err)
		}
	}
}

// tsModel starts the TypeScript model server (test/load/ts-model.sh prepares it) on a
// free loopback port and returns its MCP URL and process ID. Without node, or without
// a prepared copy, the test is skipped with the command that prepares one:
// FOSITE_MCP_TS_MODEL names the copy (it must then work); otherwise the newest copy
// ts-model.sh left in its cache is used.
func tsModel(t *testing.T) (mcpURL string, pid int) {
	t.Helper()
	dir := os.Getenv("FOSITE_MCP_TS_MODEL")
	if dir == "" {
		cache := os.Getenv("TS_MODEL_CACHE")
		if cache == "" {
			if c, err := os.UserCacheDir(); err == nil {
				cache = filepath.Join(c, "fosite-mcp")
			}
		}
		ready, _ := filepath.Glob(filepath.Join(cache, "ts-model-*", ".ready"))
		var newest time.Time
		for _, r := range ready {
			if st, err := os.Stat(r); err == nil && st.ModTime().After(newest) {
				dir, newest = filepath.Dir(r), st.ModTime()
			}
		}
		if dir == "" {
			t.Skip("the TypeScript model is not prepared: run `make test-ts-model` (npm ci of the model into ~/.cache/fosite-mcp) or set FOSITE_MCP_TS_MODEL=$(test/load/ts-model.sh)")
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the TypeScript model cannot run")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var logs strings.Builder
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"), strconv.Itoa(port), "--auto-approve", "alice")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("model server output:\n%s", logs.String())
		}
	})
	mcpURL = "http://127.0.0.1:" + strconv.Itoa(port) + "/mcp"
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return mcpURL, cmd.Process.Pid
		}
		select {
		case err := <-done:
			t.Fatalf("the model server exited at start: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the model server does not listen after 20 s\n%s", logs.String())
		}
	}
}

// Issue 9: the harness drives the TypeScript model: its authorization goes through a
// same-origin /consent redirect (four requests per login), it needs the scope its
// metadata lists, and its stateless MCP endpoint answers ping and initialize without a
// session. Every phase, zero errors.
func TestRun_TSModel_EveryPhase(t *testing.T) {
	mcpURL, pid := tsModel(t)
	for _, method := range []string{"ping", "initialize"} {
		rep, err := load.Run(context.Background(), load.Config{
			MCPURL: mcpURL, Target: load.TargetTSModel, ServerPID: pid, Concurrency: []int{2}, Duration: time.Second, BearerMethod: method,
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Issuer != strings.TrimSuffix(mcpURL, "mcp") {
			t.Errorf("issuer %q (the model spells it with a trailing slash)", rep.Issuer)
		}
		for _, res := range rep.Results {
			if res.Errors != 0 || res.Operations == 0 {
				t.Errorf("%s (%s): %d operations, errors %v", res.Phase, method, res.Operations, res.ErrorSamples)
			}
			if runtime.GOOS == "linux" && (res.Server == nil || res.Server.RSS <= 0) {
				t.Errorf("%s: no RSS of the model server", res.Phase)
			}
			if res.Phase == load.PhaseLogin && res.Requests != 4*res.Operations {
				t.Errorf("login: %d requests for %d logins, want 4 each (register, authorize, consent, token)", res.Requests, res.Operations)
			}
			if res.Phase == load.PhaseBearer && res.Requests != res.Operations {
				t.Errorf("bearer %s: %d requests for %d operations: a stateless server needs no DELETE", method, res.Requests, res.Operations)
			}
		}
	}
}

// Issue 9: the comparison itself, our demo against the model, every phase. Each phase
// ends after 50 operations; its Duration is only the bound on a machine busy enough to
// be slower than that (the model once managed 43 logins in 5 s under make test).
func TestCompare_DemoAndTSModel(t *testing.T) {
	mcpURL, pid := tsModel(t)
	d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{AutoApprove: demoproc.User, Args: []string{"-rate-limit=false"}})
	cmp, err := load.Compare(context.Background(), load.Config{Concurrency: []int{2}, Duration: 40 * time.Second, Requests: 50},
		load.Side{Name: "ours", MCPURL: d.MCPURL, ServerPID: d.PID()},
		load.Side{Name: "model", MCPURL: mcpURL, Target: load.TargetTSModel, ServerPID: pid})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Cells) != len(load.Phases) {
		t.Fatalf("%d cells", len(cmp.Cells))
	}
	for _, c := range cmp.Cells {
		if c.Ours.Operations != 50 || c.Model.Operations != 50 || c.Ours.Errors+c.Model.Errors != 0 || c.Ratio() <= 0 {
			t.Errorf("%s: ours %d ops %v, model %d ops %v, ratio %v", c.Phase, c.Ours.Operations, c.Ours.ErrorSamples,
				c.Model.Operations, c.Model.ErrorSamples, c.Ratio())
		}
	}
	var out strings.Builder
	_ = cmp.WriteText(&out)
	t.Logf("\n%s", out.String())
}
