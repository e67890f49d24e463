package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
)

var demoBinary *demoproc.Binary

func TestMain(m *testing.M) { os.Exit(demoproc.Main(m, &demoBinary)) }

// Bad flags and refused targets exit 2 before any request, saying why.
func TestRun_RefusesBadFlagsWithExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-url", "http://192.168.0.10:8080/mcp"}, "not loopback"},
		{[]string{"-url", "http://example.com/mcp"}, "-allow-remote"},
		{[]string{"-c", "1,300"}, "concurrency 300"},
		{[]string{"-c", "eight"}, "not a number"},
		{[]string{"-c", "1,8,32", "-duration", "1m"}, "more than the 5m0s"},
		{[]string{"-duration", "0s"}, "must be positive"},
		{[]string{"-phases", "login,soak"}, "unknown phase"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-target", "python"}, `target "python"`},
		{[]string{"compare", "-model", "http://127.0.0.1:1/mcp"}, "-ours and -model are required"},
		{[]string{"compare", "-ours", "http://127.0.0.1:1/mcp", "-model", "http://203.0.113.9/mcp"}, "model: load: refusing target host"},
		{[]string{"compare", "-ours", "http://127.0.0.1:1/mcp", "-model", "http://127.0.0.1:2/mcp", "-c", "8,32", "-duration", "2m"}, "more than the 5m0s"},
		{[]string{"soak", "-duration", "31m"}, "at most 30m0s"},
		{[]string{"soak", "-interval", "10ms"}, "at least 1s"},
		{[]string{"soak", "-db-file", "x.db", "-postgres", "host=127.0.0.1"}, "exclude each other"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", tc.args, code, stderr.String(), stdout.String(), tc.want)
		}
	}
}

// -json writes the report as JSON with the per-phase numbers; exit 0 without errors.
func TestRun_JSONReport(t *testing.T) {
	d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{AutoApprove: demoproc.User, Args: []string{"-rate-limit=false"}})
	var stdout, stderr bytes.Buffer
	file := filepath.Join(t.TempDir(), "report.json")
	code := run(context.Background(), []string{"-url", d.MCPURL, "-phases", "bearer,refresh", "-c", "1,2", "-n", "20",
		"-bearer-method", "tools/list", "-json", "-json-file", file, "-q"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, stderr.String(), stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("-q: stderr %q", stderr.String())
	}
	var rep struct {
		Target       string `json:"target"`
		BearerMethod string `json:"bearer_method"`
		Results      []struct {
			Phase       string  `json:"phase"`
			Concurrency int     `json:"concurrency"`
			Operations  int64   `json:"operations"`
			Errors      int64   `json:"errors"`
			OpsPerS     float64 `json:"ops_per_s"`
			ElapsedS    float64 `json:"elapsed_s"`
			Latency     struct {
				P50 float64 `json:"p50_ms"`
				Max float64 `json:"max_ms"`
			} `json:"latency"`
		} `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if written, err := os.ReadFile(file); err != nil || !bytes.Equal(written, stdout.Bytes()) {
		t.Errorf("-json-file: %v; the file differs from stdout", err)
	}
	if rep.Target != d.MCPURL || rep.BearerMethod != "tools/list" || len(rep.Results) != 4 {
		t.Fatalf("report %+v", rep)
	}
	for i, want := range []struct {
		phase string
		c     int
	}{{"bearer", 1}, {"bearer", 2}, {"refresh", 1}, {"refresh", 2}} {
		r := rep.Results[i]
		if r.Phase != want.phase || r.Concurrency != want.c || r.Operations != 20 || r.Errors != 0 || r.OpsPerS <= 0 || r.ElapsedS <= 0 ||
			r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P50 {
			t.Errorf("result %d: %+v, want %s c=%d with 20 operations", i, r, want.phase, want.c)
		}
	}
}

// soak writes its time series and exits 0 without errors; -postgres samples the
// database's size with pg_database_size (under ./test/with-postgres.sh).
func TestRun_Soak(t *testing.T) {
	for _, backend := range gormtest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := gormtest.NewDatabase(t, backend)
			d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{DB: db, AutoApprove: demoproc.User, Args: []string{"-rate-limit=false"}})
			size := []string{"-db-file", db.Path}
			if backend == gormtest.Postgres {
				size = []string{"-postgres", db.DSN}
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"soak", "-url", d.MCPURL, "-server-pid", strconv.Itoa(d.PID()), "-duration", "2s", "-interval", "1s",
				"-c", "2", "-bearer-calls", "2", "-q", "-json"}, size...)
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, stderr.String(), stdout.String())
			}
			var rep struct {
				Errors     int64            `json:"errors"`
				Operations map[string]int64 `json:"operations"`
				Samples    []struct {
					AtS     float64 `json:"at_s"`
					DBBytes int64   `json:"db_bytes"`
					Server  struct {
						RSS int64 `json:"rss_bytes"`
					} `json:"server"`
				} `json:"samples"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("%v\n%s", err, stdout.String())
			}
			if rep.Errors != 0 || rep.Operations["revoked"] == 0 || len(rep.Samples) < 3 {
				t.Fatalf("report %s", stdout.String())
			}
			for i, s := range rep.Samples {
				if s.DBBytes <= 0 || s.Server.RSS <= 0 {
					t.Errorf("sample %d: database %d bytes, RSS %d", i, s.DBBytes, s.Server.RSS)
				}
			}
		})
	}
}
