package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"
)

// Side is one of the two servers of a comparison.
type Side struct {
	// Name labels the server in the report ("ours", "model").
	Name string `json:"name"`
	// MCPURL, Target, ServerPID and HelperPIDs are as in Config.
	MCPURL     string `json:"mcp_url"`
	Target     string `json:"target"`
	ServerPID  int    `json:"server_pid,omitempty"`
	HelperPIDs []int  `json:"helper_pids,omitempty"`
	// Scope is as in Config (empty: Target's default).
	Scope string `json:"scope,omitempty"`
}

// Comparison is what Compare measured: both servers under the same phases, levels and
// harness, one cell per phase and level.
type Comparison struct {
	Started      time.Time     `json:"started"`
	GoVersion    string        `json:"go_version"`
	NumCPU       int           `json:"num_cpu"`
	Duration     time.Duration `json:"-"`
	BearerMethod string        `json:"bearer_method"`
	// Ours and Model are the two servers; ratios are Ours over Model.
	Ours  Side `json:"ours"`
	Model Side `json:"model"`
	// Cells has one entry per phase and concurrency level, in the order they ran.
	Cells []Cell `json:"cells"`
	// Interrupted is set when the comparison was stopped before it finished.
	Interrupted bool `json:"interrupted,omitempty"`
}

// MarshalJSON adds the phase duration in seconds.
func (c Comparison) MarshalJSON() ([]byte, error) {
	type plain Comparison
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"phase_duration_s"`
	}{plain(c), c.Duration.Seconds()})
}

// Cell is one phase at one concurrency level on both servers, run back to back.
type Cell struct {
	Phase       string `json:"phase"`
	Concurrency int    `json:"concurrency"`
	// First names the server that ran first (the order alternates from cell to cell,
	// so that a drift of the machine's speed does not always favour the same side).
	First string `json:"first"`
	// Ours and Model are the two measurements.
	Ours  Result `json:"ours"`
	Model Result `json:"model"`
}

// Ratio is Ours' throughput over Model's: above 1 when ours is faster; 0 when the
// model completed nothing (no ratio).
func (c Cell) Ratio() float64 { return ratio(c.Ours.Throughput, c.Model.Throughput) }

// MarshalJSON adds the ratio.
func (c Cell) MarshalJSON() ([]byte, error) {
	type plain Cell
	return json.Marshal(struct {
		plain
		Ratio float64 `json:"ratio_ops_per_s"`
	}{plain(c), math.Round(c.Ratio()*1000) / 1000})
}

// ratio is a / b, or 0 when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// Compare runs every phase of base at every concurrency level on the server ours and
// then on the server model (or the other way round, alternating from cell to cell),
// with the same harness settings: base's Phases, Concurrency, Duration, Requests,
// BearerMethod, Timeout and Logger; its MCPURL, Target, Scope, ServerPID and HelperPIDs
// are taken from each Side. Both servers must be running; only one is under load at a time, so
// that on a small machine the other's idle process is all they share. Each side's run
// is bounded like Run (MaxTotalDuration of measured time). On an error, or when ctx
// ends, it returns the cells so far with the error.
func Compare(ctx context.Context, base Config, ours, model Side) (*Comparison, error) {
	configs := make([]Config, 2)
	for i, s := range []Side{ours, model} {
		cfg := base
		cfg.MCPURL, cfg.Target, cfg.Scope, cfg.ServerPID, cfg.HelperPIDs = s.MCPURL, s.Target, s.Scope, s.ServerPID, s.HelperPIDs
		var err error
		if configs[i], err = cfg.withDefaults(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	ours.Target, model.Target = configs[0].Target, configs[1].Target
	base = configs[0]
	cmp := &Comparison{
		Started: time.Now().UTC(), GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(),
		Duration: base.Duration, BearerMethod: base.BearerMethod, Ours: ours, Model: model,
	}
	sides := []Side{ours, model}
	for _, phase := range base.Phases {
		for _, c := range base.Concurrency {
			cell := Cell{Phase: phase, Concurrency: c}
			order := []int{0, 1}
			if len(cmp.Cells)%2 == 1 {
				order = []int{1, 0}
			}
			cell.First = sides[order[0]].Name
			for _, i := range order {
				cfg := configs[i]
				cfg.Phases, cfg.Concurrency = []string{phase}, []int{c}
				base.Logger.InfoContext(ctx, "compare", "server", sides[i].Name, "phase", phase, "concurrency", c)
				rep, err := Run(ctx, cfg)
				if rep != nil && len(rep.Results) == 1 {
					if i == 0 {
						cell.Ours = rep.Results[0]
					} else {
						cell.Model = rep.Results[0]
					}
				}
				if err != nil {
					cmp.Interrupted = true
					cmp.Cells = append(cmp.Cells, cell)
					return cmp, fmt.Errorf("%s: %w", sides[i].Name, err)
				}
			}
			cmp.Cells = append(cmp.Cells, cell)
		}
	}
	return cmp, nil
}

// WriteText writes the comparison: one small table per phase and level (throughput,
// request rate, p50 and p99 of an operation, the server's CPU time per operation, the
// harness's CPU time per operation and how many cores the whole machine kept busy, errors,
// the server's RSS after the cell), then a summary with one line per cell. The harness's
// and the machine's rows tell how much of the machine was left for the server: a server
// that cannot use more than one core (the model) and one that can are bounded
// differently on a machine the harness shares.
// Every ratio is ours over the model's: above 1 for throughput means ours is faster,
// below 1 for latency and CPU means ours is quicker and cheaper.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "ours  %s (%s)\nmodel %s (%s)\n", c.Ours.MCPURL, c.Ours.Target, c.Model.MCPURL, c.Model.Target)
	fmt.Fprintf(w, "harness %s, %d CPUs; %s per phase and level on each server, one server at a time; bearer method %s\n\n",
		c.GoVersion, c.NumCPU, c.Duration, c.BearerMethod)
	for _, cell := range c.Cells {
		fmt.Fprintf(w, "%s, concurrency %d (%s ran first)\n", cell.Phase, cell.Concurrency, cell.First)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "  \t%s\t%s\tratio\t\n", c.Ours.Name, c.Model.Name)
		row := func(name, a, b, r string) { fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", name, a, b, r) }
		o, m := cell.Ours, cell.Model
		row("ops/s", fmt.Sprintf("%.1f", o.Throughput), fmt.Sprintf("%.1f", m.Throughput), ratioText(cell.Ratio()))
		row("requests/s", fmt.Sprintf("%.1f", o.RequestRate), fmt.Sprintf("%.1f", m.RequestRate), ratioText(ratio(o.RequestRate, m.RequestRate)))
		row("p50", ms(o.Latency.P50), ms(m.Latency.P50), ratioText(ratio(float64(o.Latency.P50), float64(m.Latency.P50))))
		row("p99", ms(o.Latency.P99), ms(m.Latency.P99), ratioText(ratio(float64(o.Latency.P99), float64(m.Latency.P99))))
		row("server CPU/op", cpuText(o), cpuText(m), ratioText(ratio(float64(o.ServerCPUPerOp()), float64(m.ServerCPUPerOp()))))
		row("harness CPU/op", msText(o.HarnessCPUPerOp()), msText(m.HarnessCPUPerOp()), "")
		row("machine busy, cores", o.cores(o.MachineCPU), m.cores(m.MachineCPU), "")
		row("errors", fmt.Sprint(o.Errors), fmt.Sprint(m.Errors), "")
		row("RSS after, MiB", rssText(o.Server), rssText(m.Server), "")
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "summary (ratio: ours/model operations per second; p50 · p99 in ms; server CPU per operation in ms, ratio ours/model; RSS after the cell in MiB)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "phase\tc\t%s ops/s\t%s ops/s\tratio\t%s p50 · p99\t%s p50 · p99\tCPU/op both\tratio\t%s RSS\t%s RSS\terrors\t\n",
		c.Ours.Name, c.Model.Name, c.Ours.Name, c.Model.Name, c.Ours.Name, c.Model.Name)
	for _, cell := range c.Cells {
		o, m := cell.Ours, cell.Model
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%s\t%s · %s\t%s · %s\t%s · %s\t%s\t%s\t%s\t%d / %d\t\n", cell.Phase, cell.Concurrency,
			o.Throughput, m.Throughput, ratioText(cell.Ratio()), msShort(o.Latency.P50), msShort(o.Latency.P99),
			msShort(m.Latency.P50), msShort(m.Latency.P99), cpuShort(o), cpuShort(m),
			ratioText(ratio(float64(o.ServerCPUPerOp()), float64(m.ServerCPUPerOp()))),
			rssText(o.Server), rssText(m.Server), o.Errors, m.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, cell := range c.Cells {
		for _, side := range []struct {
			name string
			res  Result
		}{{c.Ours.Name, cell.Ours}, {c.Model.Name, cell.Model}} {
			for _, kind := range slices.Sorted(maps.Keys(side.res.ErrorKinds)) {
				fmt.Fprintf(w, "error %s %s c=%d: %d × %s\n", side.name, cell.Phase, cell.Concurrency,
					side.res.ErrorKinds[kind], side.res.ErrorSamples[kind])
			}
		}
	}
	if c.Interrupted {
		fmt.Fprintln(w, "interrupted: partial results")
	}
	return nil
}

// ratioText formats a ratio; "-" when there is none.
func ratioText(r float64) string {
	if r <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

// rssText formats a sampled RSS; "-" when not sampled.
func rssText(st *ProcStats) string {
	if st == nil {
		return "-"
	}
	return mib(st.RSS)
}

// cpuText formats the server's CPU time per operation; "-" when not measured.
func cpuText(r Result) string { return msText(r.ServerCPUPerOp()) }

// msText formats a CPU time per operation in milliseconds; "-" for zero (not measured).
func msText(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}

// cpuShort is cpuText without the unit.
func cpuShort(r Result) string {
	if r.ServerCPUPerOp() == 0 {
		return "-"
	}
	return msShort(r.ServerCPUPerOp())
}

// msShort formats d in milliseconds with three significant digits.
func msShort(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
