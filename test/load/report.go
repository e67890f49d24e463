package load

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what Run measured.
type Report struct {
	// Target is the MCP URL and Issuer its authorization server.
	Target string `json:"target"`
	Issuer string `json:"issuer,omitempty"`
	// Started is when the run started (UTC).
	Started time.Time `json:"started"`
	// GoVersion, NumCPU and GOMAXPROCS describe the harness's process.
	GoVersion  string `json:"go_version"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// Duration, Requests, BearerMethod and ReuseClient are the run's configuration.
	Duration     time.Duration `json:"-"`
	Requests     int           `json:"requests_limit,omitempty"`
	BearerMethod string        `json:"bearer_method"`
	ReuseClient  bool          `json:"reuse_client,omitempty"`
	// Results has one entry per phase and concurrency level, in the order they ran.
	Results []Result `json:"results"`
	// Interrupted is set when the run was stopped (context cancelled or the run's time
	// limit) before it finished.
	Interrupted bool `json:"interrupted,omitempty"`
}

// MarshalJSON adds the phase duration in seconds.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"phase_duration_s"`
	}{plain(r), r.Duration.Seconds()})
}

// Result is one phase at one concurrency level.
type Result struct {
	// Phase is PhaseLogin, PhaseBearer or PhaseRefresh; Concurrency the number of
	// workers.
	Phase       string `json:"phase"`
	Concurrency int    `json:"concurrency"`
	// Operations counts the successful operations (a login, an MCP request, a refresh).
	Operations int64 `json:"operations"`
	// Requests counts the HTTP requests sent in the measured time, failed ones included
	// (three per login, two with ReuseClient; one per MCP request or refresh).
	Requests int64 `json:"requests"`
	// Errors counts the failed operations; ErrorKinds splits them by step, HTTP status
	// and error code ("refresh 400 invalid_grant", "mcp ping 401 invalid_token",
	// "token transport: timeout"), and ErrorSamples has one message per kind.
	Errors       int64             `json:"errors"`
	ErrorKinds   map[string]int64  `json:"error_kinds,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Elapsed is the measured time: from the start of the first worker until the last
	// one finished its last operation.
	Elapsed time.Duration `json:"-"`
	// Throughput is Operations per second of Elapsed; RequestRate is Requests per
	// second.
	Throughput  float64 `json:"ops_per_s"`
	RequestRate float64 `json:"requests_per_s"`
	// Latency is the distribution of the successful operations' latencies.
	Latency Latency `json:"latency"`
	// Steps break an operation of several requests down by request: a login (register,
	// authorize, token), a bearer-phase initialize (mcp initialize, mcp delete); empty
	// when an operation is a single request.
	Steps []Step `json:"steps,omitempty"`
	// Interrupted is set when the phase was cut short by the run's context.
	Interrupted bool `json:"interrupted,omitempty"`
	// Server is the server process's memory, threads and descriptors right after the
	// phase at this level, when Config.ServerPID named it.
	Server *ProcStats `json:"server,omitempty"`
	// ServerCPU is the CPU time the server process and Config.HelperPIDs (with their
	// children) used during Elapsed, when Config.ServerPID named it. Per operation, it
	// is the server's cost independent of what else the machine runs (see
	// ServerCPUPerOp).
	ServerCPU time.Duration `json:"-"`
	// HarnessCPU is the CPU time the harness itself used during Elapsed, and
	// MachineCPU the busy time of all the machine's cores (the harness, the server, its
	// database and anything else running); MachineCPU − HarnessCPU is the server side's
	// share when nothing else runs. Zero where not measured (outside Linux).
	HarnessCPU time.Duration `json:"-"`
	MachineCPU time.Duration `json:"-"`
}

// MarshalJSON adds the elapsed and CPU times in seconds.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		ElapsedSeconds       float64 `json:"elapsed_s"`
		HarnessCPUSeconds    float64 `json:"harness_cpu_s"`
		MachineCPUSeconds    float64 `json:"machine_cpu_s"`
		ServerCPUSeconds     float64 `json:"server_cpu_s,omitempty"`
		ServerCPUPerOpMillis float64 `json:"server_cpu_ms_per_op,omitempty"`
	}{plain(r), r.Elapsed.Seconds(), r.HarnessCPU.Seconds(), r.MachineCPU.Seconds(), r.ServerCPU.Seconds(),
		math.Round(float64(r.ServerCPUPerOp())/1e3) / 1e3})
}

// ServerCPUPerOp is ServerCPU per successful operation; zero when not measured or
// nothing succeeded. The CPU time is counted in clock ticks of 10 ms, so it needs
// hundreds of operations to be precise.
func (r Result) ServerCPUPerOp() time.Duration { return r.perOp(r.ServerCPU) }

// HarnessCPUPerOp is HarnessCPU per successful operation: what driving one operation
// cost the load generator, which shares the machine with the server; zero when not
// measured or nothing succeeded.
func (r Result) HarnessCPUPerOp() time.Duration { return r.perOp(r.HarnessCPU) }

// perOp is d per successful operation; zero when nothing succeeded.
func (r Result) perOp(d time.Duration) time.Duration {
	if r.Operations == 0 {
		return 0
	}
	return d / time.Duration(r.Operations)
}

// cores is CPU time d over the elapsed time: how many cores were busy on average.
func (r Result) cores(d time.Duration) string {
	if r.MachineCPU == 0 || r.Elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", d.Seconds()/r.Elapsed.Seconds())
}

// Step is the latency of one kind of request inside an operation.
type Step struct {
	// Name is the request: "register", "authorize" or "token".
	Name string `json:"name"`
	// Requests counts the successful requests.
	Requests int64 `json:"requests"`
	// Latency is their latency distribution.
	Latency Latency `json:"latency"`
}

// Latency is a latency distribution: nearest-rank percentiles and the maximum.
type Latency struct {
	P50, P90, P99, Max time.Duration
}

// MarshalJSON writes the latencies in milliseconds.
func (l Latency) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return json.Marshal(map[string]float64{"p50_ms": ms(l.P50), "p90_ms": ms(l.P90), "p99_ms": ms(l.P99), "max_ms": ms(l.Max)})
}

// latencyOf computes the distribution of ds, sorting ds.
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	return Latency{P50: percentile(ds, 50), P90: percentile(ds, 90), P99: percentile(ds, 99), Max: ds[len(ds)-1]}
}

// percentile is the nearest-rank p-th percentile of the sorted sorted: the smallest
// value that at least p % of the values do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// merge adds up the workers' recorders into res.
func merge(res *Result, workers []*worker) {
	var ops []time.Duration
	steps := map[string][]time.Duration{}
	var order []string
	for _, w := range workers {
		ops = append(ops, w.rec.ops...)
		res.Requests += w.rec.requests
		for name, ds := range w.rec.steps {
			if _, ok := steps[name]; !ok {
				order = append(order, name)
			}
			steps[name] = append(steps[name], ds...)
		}
		for kind, n := range w.rec.errors {
			if res.ErrorKinds == nil {
				res.ErrorKinds, res.ErrorSamples = map[string]int64{}, map[string]string{}
			}
			res.ErrorKinds[kind] += n
			res.Errors += n
			if _, ok := res.ErrorSamples[kind]; !ok {
				res.ErrorSamples[kind] = w.rec.samples[kind]
			}
		}
	}
	res.Operations = int64(len(ops))
	res.Latency = latencyOf(ops)
	if s := res.Elapsed.Seconds(); s > 0 {
		res.Throughput = float64(res.Operations) / s
		res.RequestRate = float64(res.Requests) / s
	}
	if res.Phase == PhaseLogin || len(order) > 1 {
		rank := map[string]int{"register": 0, "authorize": 1, "token": 2, "mcp initialize": 3, "mcp delete": 4}
		sort.SliceStable(order, func(i, j int) bool { return rank[order[i]] < rank[order[j]] })
		for _, name := range order {
			res.Steps = append(res.Steps, Step{Name: name, Requests: int64(len(steps[name])), Latency: latencyOf(steps[name])})
		}
	}
}

// WriteText writes the report as a table: one row per phase and concurrency level,
// the login's requests below their row, then the errors by kind.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "target %s (issuer %s)\n", r.Target, r.Issuer)
	fmt.Fprintf(w, "harness %s, %d CPUs, GOMAXPROCS %d; %s per phase", r.GoVersion, r.NumCPU, r.GOMAXPROCS, r.Duration)
	if r.Requests > 0 {
		fmt.Fprintf(w, " or %d operations", r.Requests)
	}
	fmt.Fprintf(w, "; bearer method %s", r.BearerMethod)
	if r.ReuseClient {
		fmt.Fprintf(w, "; logins reuse one client per worker")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	server := slices.ContainsFunc(r.Results, func(res Result) bool { return res.Server != nil })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-12s\tc\tops\terrors\tops/s\treq/s\tp50\tp90\tp99\tmax\tbusy\tharness\t", "phase")
	if server {
		fmt.Fprint(tw, "server RSS MiB\tthreads\tCPU/op\t")
	}
	fmt.Fprintln(tw)
	for _, res := range r.Results {
		name := res.Phase
		if res.Interrupted {
			name += "*"
		}
		fmt.Fprintf(tw, "%-12s\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t", name, res.Concurrency, res.Operations, res.Errors,
			res.Throughput, res.RequestRate, ms(res.Latency.P50), ms(res.Latency.P90), ms(res.Latency.P99), ms(res.Latency.Max),
			res.cores(res.MachineCPU), res.cores(res.HarnessCPU))
		if res.Server != nil {
			fmt.Fprintf(tw, "%s\t%d\t%s\t", mib(res.Server.RSS), res.Server.Threads, cpuText(res))
		} else if server {
			fmt.Fprint(tw, "-\t-\t-\t")
		}
		fmt.Fprintln(tw)
		for _, s := range res.Steps {
			fmt.Fprintf(tw, "  %-10s\t\t%d\t\t\t\t%s\t%s\t%s\t%s\t\t\t", s.Name, s.Requests,
				ms(s.Latency.P50), ms(s.Latency.P90), ms(s.Latency.P99), ms(s.Latency.Max))
			if server {
				fmt.Fprint(tw, "\t\t\t")
			}
			fmt.Fprintln(tw)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		for _, kind := range slices.Sorted(maps.Keys(res.ErrorKinds)) {
			fmt.Fprintf(w, "error %s c=%d: %d × %s\n", res.Phase, res.Concurrency, res.ErrorKinds[kind], strings.TrimSpace(res.ErrorSamples[kind]))
		}
	}
	if len(r.Results) > 0 && r.Results[0].MachineCPU > 0 {
		fmt.Fprintln(w, "busy: cores the whole machine kept busy (harness, server, database, anything else); harness: the harness's share")
	}
	if r.Interrupted {
		fmt.Fprintln(w, "* interrupted: partial results")
	}
	return nil
}

// ms formats d in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
