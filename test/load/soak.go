package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Soak limits and defaults.
const (
	// DefaultSoakDuration is how long Soak runs when SoakConfig.Duration is zero.
	DefaultSoakDuration = 3 * time.Minute
	// MaxSoakDuration bounds SoakConfig.Duration.
	MaxSoakDuration = 30 * time.Minute
	// DefaultSoakInterval is the sampling interval when SoakConfig.Interval is zero.
	DefaultSoakInterval = 15 * time.Second
	// DefaultSoakConcurrency is the number of workers when SoakConfig.Concurrency is
	// zero.
	DefaultSoakConcurrency = 4
	// DefaultSoakBearerCalls is the number of MCP pings per cycle when
	// SoakConfig.BearerCalls is zero.
	DefaultSoakBearerCalls = 16
)

// Soak operation kinds, the keys of SoakSample.Ops and SoakReport.Operations.
const (
	SoakLogin      = "login"      // registration, authorization, code exchange
	SoakInitialize = "initialize" // initialize + notifications/initialized
	SoakBearer     = "bearer"     // one ping in the session
	SoakRefresh    = "refresh"    // one refresh-token rotation
	SoakClose      = "close"      // DELETE of the session
	SoakRevoke     = "revoke"     // RFC 7009 revocation of the refresh token
	SoakRevoked    = "revoked"    // a request with the revoked grant's access token, refused with 401
)

// soakKinds is the order of the kinds in reports.
var soakKinds = []string{SoakLogin, SoakInitialize, SoakBearer, SoakRefresh, SoakClose, SoakRevoke, SoakRevoked}

// SoakConfig configures Soak.
type SoakConfig struct {
	// MCPURL, Target, Scope, RedirectURI, Timeout, AllowRemote and Logger are as in
	// Config; MCPURL is required.
	MCPURL      string
	Target      string
	Scope       string
	RedirectURI string
	Timeout     time.Duration
	AllowRemote bool
	Logger      *slog.Logger

	// ServerPID, when positive, is the server's process on this machine, sampled at
	// every interval (RSS, threads, open descriptors).
	ServerPID int

	// Duration is how long the soak runs; default DefaultSoakDuration, at most
	// MaxSoakDuration.
	Duration time.Duration
	// Interval is how often the soak samples; default DefaultSoakInterval, at least a
	// second.
	Interval time.Duration
	// Concurrency is the number of workers, each running the cycle in a loop; default
	// DefaultSoakConcurrency, at most MaxConcurrency.
	Concurrency int
	// BearerCalls is the number of MCP pings per cycle (half before the refresh, half
	// after); default DefaultSoakBearerCalls.
	BearerCalls int

	// DBSize, when set, reports the size of the server's database in bytes at every
	// sample (the SQLite file with its WAL, or pg_database_size).
	DBSize func(context.Context) (int64, error)
}

// SoakReport is what Soak observed.
type SoakReport struct {
	Target      string        `json:"target"`
	Started     time.Time     `json:"started"`
	GoVersion   string        `json:"go_version"`
	Duration    time.Duration `json:"-"`
	Interval    time.Duration `json:"-"`
	Concurrency int           `json:"concurrency"`
	BearerCalls int           `json:"bearer_calls_per_cycle"`
	// Samples is the time series, the first taken before the load starts.
	Samples []SoakSample `json:"samples"`
	// Operations counts the successful operations by kind over the whole soak.
	Operations map[string]int64 `json:"operations"`
	// Errors counts the failed operations; ErrorKinds splits them as Result does and
	// ErrorSamples has one message per kind.
	Errors       int64             `json:"errors"`
	ErrorKinds   map[string]int64  `json:"error_kinds,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Interrupted is set when the soak was stopped before its time.
	Interrupted bool `json:"interrupted,omitempty"`
}

// MarshalJSON adds the durations in seconds.
func (r SoakReport) MarshalJSON() ([]byte, error) {
	type plain SoakReport
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"duration_s"`
		IntervalSeconds float64 `json:"interval_s"`
	}{plain(r), r.Duration.Seconds(), r.Interval.Seconds()})
}

// SoakSample is one point of the time series.
type SoakSample struct {
	// At is the time since the load started.
	At time.Duration `json:"-"`
	// Ops counts the successful operations by kind since the previous sample.
	Ops map[string]int64 `json:"ops"`
	// Errors counts the failed operations since the start.
	Errors int64 `json:"errors"`
	// Server is the server process's statistics (when SoakConfig.ServerPID is set and
	// the process could be read).
	Server *ProcStats `json:"server,omitempty"`
	// DBBytes is the database size, -1 when unknown.
	DBBytes int64 `json:"db_bytes"`
}

// MarshalJSON adds At in seconds.
func (s SoakSample) MarshalJSON() ([]byte, error) {
	type plain SoakSample
	return json.Marshal(struct {
		plain
		AtSeconds float64 `json:"at_s"`
	}{plain(s), s.At.Seconds()})
}

// withDefaults returns c with defaults filled in, and the Config of its target.
func (c SoakConfig) withDefaults() (SoakConfig, Config, error) {
	if c.Duration == 0 {
		c.Duration = DefaultSoakDuration
	}
	if c.Duration < 0 || c.Duration > MaxSoakDuration {
		return c, Config{}, fmt.Errorf("load: soak duration %s: want more than 0 and at most %s", c.Duration, MaxSoakDuration)
	}
	if c.Interval == 0 {
		c.Interval = DefaultSoakInterval
	}
	if c.Interval < time.Second || c.Interval > c.Duration {
		return c, Config{}, fmt.Errorf("load: soak interval %s: want at least 1s and at most the duration", c.Interval)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultSoakConcurrency
	}
	if c.BearerCalls == 0 {
		c.BearerCalls = DefaultSoakBearerCalls
	}
	if c.BearerCalls < 0 {
		return c, Config{}, fmt.Errorf("load: soak bearer calls %d: must not be negative", c.BearerCalls)
	}
	cfg, err := Config{
		MCPURL: c.MCPURL, Target: c.Target, Scope: c.Scope, RedirectURI: c.RedirectURI, Timeout: c.Timeout,
		AllowRemote: c.AllowRemote, Logger: c.Logger, ServerPID: c.ServerPID,
		Phases: []string{PhaseBearer}, Concurrency: []int{c.Concurrency}, Duration: time.Second,
	}.withDefaults()
	if err != nil {
		return c, cfg, err
	}
	c.Target, c.Logger = cfg.Target, cfg.Logger
	return c, cfg, nil
}

// soakCounters are the workers' shared counts.
type soakCounters struct {
	ops    map[string]*atomic.Int64
	mu     sync.Mutex
	errors map[string]int64
	sample map[string]string
	failed atomic.Int64
}

func (s *soakCounters) fail(err error) {
	var r recorder
	r.fail(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	for kind, n := range r.errors {
		if s.errors == nil {
			s.errors, s.sample = map[string]int64{}, map[string]string{}
		}
		s.errors[kind] += n
		if _, ok := s.sample[kind]; !ok {
			s.sample[kind] = r.samples[kind]
		}
	}
	s.failed.Add(1)
}

// Soak runs a mixed load against the server for cfg.Duration, to show that it holds
// steady: every worker loops over one cycle of an MCP client's life — log in
// (registration, authorization, code exchange), open an MCP session, BearerCalls/2
// pings, rotate the refresh token, BearerCalls/2 pings with the new access token, close
// the session, revoke the refresh token (RFC 7009), and check that the revoked grant's
// access token is refused with 401 (skipped for JWT access tokens, which stay valid
// until they expire). Every interval it samples the operations done, the errors, the
// server process (RSS, threads, descriptors) and the database size. Any failed request
// is an error: a soak passes with zero. It returns the report so far with an error when
// ctx ends first.
func Soak(ctx context.Context, cfg SoakConfig) (*SoakReport, error) {
	cfg, tcfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+SetupGrace)
	defer cancel()
	t := newTarget(tcfg)
	defer t.close()
	rep := &SoakReport{
		Target: cfg.MCPURL, Started: time.Now().UTC(), GoVersion: runtime.Version(), Duration: cfg.Duration,
		Interval: cfg.Interval, Concurrency: cfg.Concurrency, BearerCalls: cfg.BearerCalls, Operations: map[string]int64{},
	}
	if err := t.discover(ctx); err != nil {
		return rep, err
	}
	if t.revoke == "" {
		return rep, fmt.Errorf("load: the authorization server metadata names no revocation_endpoint (the soak revokes tokens)")
	}
	counters := &soakCounters{ops: map[string]*atomic.Int64{}}
	for _, k := range soakKinds {
		counters.ops[k] = new(atomic.Int64)
	}
	last := map[string]int64{}
	sample := func(at time.Duration) {
		s := SoakSample{At: at, Ops: map[string]int64{}, Errors: counters.failed.Load(), DBBytes: -1}
		for _, k := range soakKinds {
			n := counters.ops[k].Load()
			s.Ops[k] = n - last[k]
			last[k] = n
		}
		if cfg.ServerPID > 0 {
			if st, err := ReadProcStats(cfg.ServerPID); err == nil {
				s.Server = &st
			} else {
				cfg.Logger.WarnContext(ctx, "soak: cannot sample the server", "err", err)
			}
		}
		if cfg.DBSize != nil {
			if n, err := cfg.DBSize(ctx); err == nil {
				s.DBBytes = n
			} else {
				cfg.Logger.WarnContext(ctx, "soak: cannot read the database size", "err", err)
			}
		}
		rep.Samples = append(rep.Samples, s)
		cfg.Logger.InfoContext(ctx, "soak", "at", at.Round(time.Second), "ops", s.Ops, "errors", s.Errors)
	}
	sample(0)

	var stop atomic.Bool
	begin := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		w := &worker{t: t, phase: "soak", id: i}
		wg.Go(func() { w.soakLoop(ctx, &stop, counters, cfg.BearerCalls) })
	}
	tick := time.NewTicker(cfg.Interval)
	end := time.NewTimer(cfg.Duration)
loop:
	for {
		select {
		case <-tick.C:
			if time.Since(begin) < cfg.Duration-cfg.Interval/2 {
				sample(time.Since(begin))
			}
		case <-end.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	stop.Store(true)
	wg.Wait()
	sample(time.Since(begin))
	for _, k := range soakKinds {
		rep.Operations[k] = counters.ops[k].Load()
	}
	counters.mu.Lock()
	rep.Errors, rep.ErrorKinds, rep.ErrorSamples = counters.failed.Load(), counters.errors, counters.sample
	counters.mu.Unlock()
	if ctx.Err() != nil {
		rep.Interrupted = true
		return rep, fmt.Errorf("load: soak stopped after %s: %w", time.Since(begin).Round(time.Second), context.Cause(ctx))
	}
	return rep, nil
}

// soakLoop runs soak cycles until stop is set or ctx ends.
func (w *worker) soakLoop(ctx context.Context, stop *atomic.Bool, c *soakCounters, bearerCalls int) {
	for !stop.Load() && ctx.Err() == nil {
		if err := w.soakCycle(ctx, stop, c, bearerCalls); err != nil && ctx.Err() == nil {
			c.fail(err)
			w.cleanup(ctx)
		}
	}
	w.cleanup(context.WithoutCancel(ctx))
}

// soakCycle is one client's life; see Soak. A cycle cut short by stop ends early
// without an error.
func (w *worker) soakCycle(ctx context.Context, stop *atomic.Bool, c *soakCounters, bearerCalls int) error {
	var tr trace
	count := func(kind string, err error) error {
		if err == nil {
			c.ops[kind].Add(1)
		}
		return err
	}
	if err := count(SoakLogin, w.login(ctx, &tr, true)); err != nil {
		return err
	}
	s, err := w.t.mcpInitialize(ctx, w.tok.AccessToken)
	if err := count(SoakInitialize, err); err != nil {
		return err
	}
	w.session = s
	for half := range 2 {
		for range bearerCalls / 2 {
			if stop.Load() {
				return nil
			}
			if err := count(SoakBearer, w.t.mcpCall(ctx, w.tok.AccessToken, w.session, "ping")); err != nil {
				return err
			}
		}
		if half == 0 {
			tok, err := w.t.refreshTokens(ctx, w.clientID, w.tok.RefreshToken)
			if err == nil && (tok.RefreshToken == "" || tok.RefreshToken == w.tok.RefreshToken) {
				err = &StepError{Step: "refresh", Status: 200, Code: "not rotated"}
			}
			if err := count(SoakRefresh, err); err != nil {
				return err
			}
			w.tok = tok
		}
	}
	if err := count(SoakClose, w.t.mcpDelete(ctx, w.tok.AccessToken, w.session)); err != nil {
		return err
	}
	w.session = nil
	if err := count(SoakRevoke, w.t.revokeToken(ctx, w.clientID, w.tok.RefreshToken, "refresh_token")); err != nil {
		return err
	}
	if strings.Count(w.tok.AccessToken, ".") == 2 {
		return nil // a JWT access token: valid until it expires, revocation or not
	}
	// RFC 7009 §2.1: revoking a refresh token should invalidate the access tokens of
	// the same grant; the bearer check must refuse it before the MCP handler runs.
	err = w.t.mcpCall(ctx, w.tok.AccessToken, &mcpSession{nextID: 1}, "ping")
	var se *StepError
	if !errors.As(err, &se) || se.Status != 401 {
		if err == nil {
			err = &StepError{Step: "mcp ping", Status: 200, Code: "revoked token accepted"}
		}
		return fmt.Errorf("after revocation: %w", err)
	}
	c.ops[SoakRevoked].Add(1)
	return nil
}

// WriteText writes the time series (operations per second by kind, errors, the
// server's RSS, threads and descriptors, the database size) and a summary.
func (r *SoakReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "soak %s: %s, %d workers, %d pings per cycle, a sample every %s\n\n",
		r.Target, r.Duration, r.Concurrency, r.BearerCalls, r.Interval)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "t s\t")
	for _, k := range soakKinds {
		fmt.Fprintf(tw, "%s/s\t", k)
	}
	fmt.Fprint(tw, "errors\tRSS MiB\tthreads\tfds\tDB MiB\t\n")
	var prev time.Duration
	for _, s := range r.Samples {
		fmt.Fprintf(tw, "%.0f\t", s.At.Seconds())
		secs := (s.At - prev).Seconds()
		prev = s.At
		for _, k := range soakKinds {
			if secs <= 0 {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprintf(tw, "%.1f\t", float64(s.Ops[k])/secs)
		}
		fmt.Fprintf(tw, "%d\t", s.Errors)
		if s.Server != nil {
			fmt.Fprintf(tw, "%s\t%d\t%d\t", mib(s.Server.RSS), s.Server.Threads, s.Server.FDs)
		} else {
			fmt.Fprint(tw, "-\t-\t-\t")
		}
		if s.DBBytes >= 0 {
			fmt.Fprintf(tw, "%s\t\n", mib(s.DBBytes))
		} else {
			fmt.Fprint(tw, "-\t\n")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var total []string
	for _, k := range soakKinds {
		total = append(total, fmt.Sprintf("%s %d", k, r.Operations[k]))
	}
	fmt.Fprintf(w, "operations: %s\n", strings.Join(total, ", "))
	fmt.Fprintf(w, "errors: %d\n", r.Errors)
	for _, kind := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
		fmt.Fprintf(w, "error: %d × %s\n", r.ErrorKinds[kind], r.ErrorSamples[kind])
	}
	for _, line := range r.trends() {
		fmt.Fprintln(w, line)
	}
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: partial results")
	}
	return nil
}

// trends sums the time series up: the server's RSS, threads and descriptors at the
// start, at half time and at the end (growth in the second half is what a leak looks
// like once caches and pools have warmed up), and the database's size at the same
// points with its growth per login cycle in the second half.
func (r *SoakReport) trends() []string {
	var out []string
	var srv []SoakSample
	for _, s := range r.Samples {
		if s.Server != nil {
			srv = append(srv, s)
		}
	}
	if len(srv) >= 3 {
		first, mid, last := srv[0].Server, srv[len(srv)/2].Server, srv[len(srv)-1].Server
		out = append(out, fmt.Sprintf("server RSS MiB: %s at the start, %s at half time, %s at the end (second half %+.1f %%); threads %d, %d, %d; descriptors %d, %d, %d",
			mib(first.RSS), mib(mid.RSS), mib(last.RSS), 100*ratioChange(mid.RSS, last.RSS),
			first.Threads, mid.Threads, last.Threads, first.FDs, mid.FDs, last.FDs))
	}
	if n := len(r.Samples); n >= 3 && r.Samples[0].DBBytes >= 0 && r.Samples[n/2].DBBytes >= 0 && r.Samples[n-1].DBBytes >= 0 {
		first, mid, last := r.Samples[0], r.Samples[n/2], r.Samples[n-1]
		line := fmt.Sprintf("database MiB: %s at the start, %s at half time, %s at the end", mib(first.DBBytes), mib(mid.DBBytes), mib(last.DBBytes))
		// Per login cycle over the second half: by then SQLite's WAL has reached its
		// steady size (it is checkpointed at about 4 MiB and reused, not shrunk).
		var logins int64
		for _, s := range r.Samples[n/2+1:] {
			logins += s.Ops[SoakLogin]
		}
		if logins > 0 {
			line += fmt.Sprintf(" (second half: %.0f bytes per login cycle)", float64(last.DBBytes-mid.DBBytes)/float64(logins))
		}
		out = append(out, line)
	}
	return out
}

// ratioChange is (b − a) / a, 0 when a is not positive.
func ratioChange(a, b int64) float64 {
	if a <= 0 {
		return 0
	}
	return float64(b-a) / float64(a)
}
