package load

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 9: the TypeScript model's /authorize redirects to a /consent page on its own
// origin, which approves at once and redirects to the client. The harness follows
// redirects on the authorization server's origin, at most MaxConsentRedirects, until
// the redirect URI; it never follows one to another origin.
func TestFollowToRedirectURI_SameOriginConsentRedirects(t *testing.T) {
	const redirectURI = "http://127.0.0.1/cb"
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		http.Redirect(w, r, redirectURI+"?code=c&state=s", http.StatusFound)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops, _ := strconv.Atoi(r.URL.Query().Get("hops"))
		switch {
		case r.URL.Path == "/page":
			_, _ = w.Write([]byte("<form>log in</form>"))
		case r.URL.Path == "/away":
			http.Redirect(w, r, other.URL+"/consent", http.StatusFound)
		case hops > 0: // relative Location, resolved against the request
			http.Redirect(w, r, "/consent?hops="+strconv.Itoa(hops-1), http.StatusSeeOther)
		default:
			http.Redirect(w, r, redirectURI+"?code=c&state=s", http.StatusFound)
		}
	}))
	defer srv.Close()
	tg := newTarget(Config{RedirectURI: redirectURI, Timeout: 5 * time.Second})
	defer tg.close()
	follow := func(path string) (*url.URL, int, error) {
		u, _ := url.Parse(srv.URL + path)
		loc, _, n, err := tg.followToRedirectURI(context.Background(), u)
		return loc, n, err
	}

	for _, hops := range []int{0, 1, MaxConsentRedirects} {
		loc, n, err := follow("/authorize?hops=" + strconv.Itoa(hops))
		if err != nil || loc.Query().Get("code") != "c" || n != hops+1 {
			t.Errorf("%d consent redirects: %v, %d requests, %v; want the code after %d requests", hops, loc, n, err, hops+1)
		}
	}
	for _, tc := range []struct{ path, code, detail string }{
		{"/authorize?hops=" + strconv.Itoa(MaxConsentRedirects+1), "not approved", "more than 5 redirects"},
		{"/away", "not approved", "redirected to " + other.URL + "/consent"},
		{"/page", "no redirect", "-auto-approve"},
	} {
		_, _, err := follow(tc.path)
		var se *StepError
		if !errors.As(err, &se) || se.Code != tc.code || !strings.Contains(se.Detail, tc.detail) {
			t.Errorf("%s: %v, want %q naming %q", tc.path, err, tc.code, tc.detail)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the harness followed a redirect to another origin (%d requests there)", n)
	}
}

// RFC 6454 origins: scheme, host and port, the default port spelled or not.
func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"http://127.0.0.1:3900/authorize", "http://127.0.0.1:3900/consent?x=1", true},
		{"http://LOCALHOST/a", "http://localhost:80/b", true},
		{"https://127.0.0.1/a", "https://127.0.0.1:443/b", true},
		{"http://127.0.0.1:3900/a", "http://127.0.0.1:3901/a", false},
		{"http://127.0.0.1/a", "https://127.0.0.1/a", false},
		{"http://127.0.0.1/a", "http://localhost/a", false},
		{"http://127.0.0.1/a", "http://127.0.0.2/a", false},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if got := sameOrigin(a, b); got != tc.want {
			t.Errorf("sameOrigin(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// /proc/PID/status: VmRSS in kB and Threads; a status without them (a zombie) or with
// a value that is not a number is an error, not a zero.
func TestParseProcStatus(t *testing.T) {
	const status = "Name:\tdemo\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\nVmRSS:\t   45312 kB\nRssAnon:\t   30000 kB\nThreads:\t11\nSigQ:\t0/94567\n"
	st, err := parseProcStatus([]byte(status))
	if err != nil || st.RSS != 45312*1024 || st.Threads != 11 {
		t.Errorf("parseProcStatus = %+v, %v; want RSS 45312 KiB, 11 threads", st, err)
	}
	for name, raw := range map[string]string{
		"zombie":          "Name:\tdemo\nState:\tZ (zombie)\nThreads:\t1\n",
		"no threads":      "VmRSS:\t 10 kB\n",
		"rss not kB":      "VmRSS:\t 10 MB\nThreads:\t1\n",
		"rss not numeric": "VmRSS:\t ten kB\nThreads:\t1\n",
		"threads garbage": "VmRSS:\t 10 kB\nThreads:\tmany\n",
	} {
		if _, err := parseProcStatus([]byte(raw)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The server's statistics come from /proc: this process has a resident set, threads
// and open descriptors.
func TestReadProcStats_Self(t *testing.T) {
	st, err := ReadProcStats(os.Getpid())
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Fatal("no error outside Linux")
		}
		return
	}
	if err != nil || st.RSS <= 0 || st.Threads < 1 || st.FDs < 3 {
		t.Errorf("ReadProcStats(self) = %+v, %v", st, err)
	}
	if _, err := ReadProcStats(1 << 30); err == nil {
		t.Error("ReadProcStats(no such process): no error")
	}
}

// The comparison's text: a table per cell with the ratio ours/model, "-" where the
// model completed nothing or nothing was measured, the harness's CPU per operation and
// the machine's busy cores, and RSS where it was sampled.
func TestComparison_WriteText_Ratios(t *testing.T) {
	cmp := &Comparison{
		Duration: 10 * time.Second, BearerMethod: "initialize",
		Ours:  Side{Name: "ours", MCPURL: "http://127.0.0.1:1/mcp", Target: TargetFositeMCP},
		Model: Side{Name: "model", MCPURL: "http://127.0.0.1:2/mcp", Target: TargetTSModel},
		Cells: []Cell{
			{Phase: PhaseLogin, Concurrency: 8, First: "ours",
				Ours: Result{Operations: 4500, Throughput: 450, RequestRate: 1350, Latency: Latency{P50: 14 * time.Millisecond, P99: 68 * time.Millisecond},
					Server: &ProcStats{RSS: 45 << 20}, ServerCPU: 9 * time.Second,
					Elapsed: 10 * time.Second, HarnessCPU: 3 * time.Second, MachineCPU: 15 * time.Second},
				Model: Result{Operations: 3000, Throughput: 300, RequestRate: 1200, Latency: Latency{P50: 7 * time.Millisecond, P99: 136 * time.Millisecond},
					Server: &ProcStats{RSS: 150 << 20}, ServerCPU: 12 * time.Second}},
			{Phase: PhaseRefresh, Concurrency: 32, First: "model",
				Ours:  Result{Throughput: 1000, Errors: 2, ErrorKinds: map[string]int64{"refresh 500": 2}, ErrorSamples: map[string]string{"refresh 500": "refresh 500"}},
				Model: Result{}},
		},
	}
	if r := cmp.Cells[0].Ratio(); r != 1.5 {
		t.Errorf("ratio %v, want 1.5", r)
	}
	var out strings.Builder
	if err := cmp.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	// Columns are aligned with spaces: compare with every run of spaces as one.
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"login, concurrency 8 (ours ran first)",
		"ops/s 450.0 300.0 1.50",
		"requests/s 1350.0 1200.0 1.12",
		"p50 14.00ms 7.00ms 2.00",
		"p99 68.00ms 136.00ms 0.50",
		"RSS after, MiB 45.0 150.0",
		"server CPU/op 2.000ms 4.000ms 0.50",
		"harness CPU/op 0.667ms -",
		"machine busy, cores 1.50 -",
		"login 8 450 300 1.50 14.0 · 68.0 7.00 · 136 2.00 · 4.00 0.50 45.0 150.0 0 / 0",
		"refresh 32 1000 0 - 0.00 · 0.00 0.00 · 0.00 - · - - - - 2 / 0",
		"error ours refresh c=32: 2 × refresh 500",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}

// The soak's summary: RSS at the start, half time and end, the second half's growth,
// and the database's size with its growth per login cycle in the second half (5 MiB
// over the last sample's 512 logins).
func TestSoakReport_Trends(t *testing.T) {
	rep := &SoakReport{}
	for i, rss := range []int64{40, 50, 60, 66} {
		rep.Samples = append(rep.Samples, SoakSample{At: time.Duration(i) * time.Minute, Server: &ProcStats{RSS: rss << 20, Threads: 9, FDs: 17},
			DBBytes: int64(i*i) << 20, Ops: map[string]int64{SoakLogin: 512}})
	}
	got := strings.Join(rep.trends(), "\n")
	for _, want := range []string{
		"40.0 at the start, 60.0 at half time, 66.0 at the end (second half +10.0 %)", "threads 9, 9, 9",
		"database MiB: 0.0 at the start, 4.0 at half time, 9.0 at the end (second half: 10240 bytes per login cycle)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in %q", want, got)
		}
	}
}

// /proc/PID/stat: the parent PID and utime + stime + cutime + cstime in ticks of 10 ms,
// counted after the command name, which may hold spaces and parentheses.
func TestParseProcStat(t *testing.T) {
	const stat = "4319 (demo (x) y) S 4001 4319 15412 0 -1 4194560 9000 0 0 0 250 50 7 3 20 0 9 0 175511 3133440 382 18446744073709551615"
	st, err := parseProcStat([]byte(stat))
	if err != nil || st.ppid != 4001 || st.cpu != 3100*time.Millisecond {
		t.Errorf("parseProcStat = %+v, %v; want parent 4001, 3.1 s", st, err)
	}
	for _, raw := range []string{"", "4319 demo S 1", "4319 (demo) S 1 2 3", "4319 (demo) S one 4319 15412 0 -1 4194560 9000 0 0 0 250 50 7 3 20"} {
		if _, err := parseProcStat([]byte(raw)); err == nil {
			t.Errorf("parseProcStat(%q): no error", raw)
		}
	}
}

// The server's CPU time comes from /proc: this process's grows while it computes, and
// with children it includes a live child's (a spinning shell). No timing is assumed:
// each only has to grow within 10 s, however busy the machine is.
func TestProcessCPU_SelfAndChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux /proc only")
	}
	self := []int{os.Getpid()}
	before, err := ProcessCPU(self, false)
	if err != nil {
		t.Fatal(err)
	}
	grew := false
	for deadline := time.Now().Add(10 * time.Second); !grew && time.Now().Before(deadline); {
		for spin := time.Now().Add(10 * time.Millisecond); time.Now().Before(spin); {
		}
		now, err := ProcessCPU(self, false)
		if err != nil {
			t.Fatal(err)
		}
		grew = now-before >= 20*time.Millisecond
	}
	if !grew {
		t.Error("this process's CPU time did not grow while it spun for 10 s")
	}

	child := exec.Command("sh", "-c", "while :; do :; done")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	counted := false
	for deadline := time.Now().Add(10 * time.Second); !counted && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		own, err1 := ProcessCPU(self, false)
		all, err2 := ProcessCPU(self, true)
		if err := cmp.Or(err1, err2); err != nil {
			t.Fatal(err)
		}
		counted = all-own >= 20*time.Millisecond
	}
	if !counted {
		t.Error("ProcessCPU with children did not count the spinning child within 10 s")
	}
	if _, err := ProcessCPU([]int{1 << 30}, true); err == nil {
		t.Error("ProcessCPU(no such process): no error")
	}
}
