package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Run discovers the target's endpoints and runs every phase of cfg at every
// concurrency level, in order. It returns the report of what it measured; on an error,
// or when ctx ends (Ctrl-C), it returns the report so far with the error. A run never
// outlasts its planned measured time plus SetupGrace.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.plannedDuration()+SetupGrace)
	defer cancel()

	t := newTarget(cfg)
	defer t.close()
	rep := &Report{
		Target:       cfg.MCPURL,
		Started:      time.Now().UTC(),
		GoVersion:    runtime.Version(),
		NumCPU:       runtime.NumCPU(),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		Duration:     cfg.Duration,
		Requests:     cfg.Requests,
		BearerMethod: cfg.BearerMethod,
		ReuseClient:  cfg.ReuseClient,
	}
	if err := t.discover(ctx); err != nil {
		return rep, err
	}
	rep.Issuer = t.issuer
	for _, phase := range cfg.Phases {
		for _, c := range cfg.Concurrency {
			cfg.Logger.InfoContext(ctx, "phase", "phase", phase, "concurrency", c, "duration", cfg.Duration)
			res, err := t.runPhase(ctx, phase, c)
			if res != nil {
				rep.Results = append(rep.Results, *res)
				cfg.Logger.InfoContext(ctx, "phase done", "phase", phase, "concurrency", c,
					"operations", res.Operations, "errors", res.Errors, "ops_per_s", fmt.Sprintf("%.1f", res.Throughput))
			}
			if ctx.Err() != nil {
				rep.Interrupted = true
				return rep, fmt.Errorf("load: stopped during %s at concurrency %d: %w", phase, c, context.Cause(ctx))
			}
			if err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// worker is one simulated MCP client: its own registered client, tokens and session.
type worker struct {
	t      *target
	phase  string
	id     int
	logins int // logins so far, for client names

	clientID string
	tok      tokens
	session  *mcpSession

	rec recorder
}

// recorder collects one worker's measurements.
type recorder struct {
	ops      []time.Duration            // latencies of the successful operations
	steps    map[string][]time.Duration // latencies of successful requests, by step
	requests int64                      // HTTP requests sent in the measured window
	errors   map[string]int64           // failed operations by StepError.Kind
	samples  map[string]string          // one message per error kind
}

func (r *recorder) fail(err error) {
	kind, msg := "other", err.Error()
	var se *StepError
	if errors.As(err, &se) {
		kind = se.Kind()
	}
	if r.errors == nil {
		r.errors, r.samples = map[string]int64{}, map[string]string{}
	}
	r.errors[kind]++
	if _, ok := r.samples[kind]; !ok {
		r.samples[kind] = msg
	}
}

// trace is the requests of one operation, committed to the recorder when the
// operation was not interrupted.
type trace struct {
	names []string
	times []time.Duration
	sent  int64
}

// step times one request of an operation.
func (tr *trace) step(name string, fn func() error) error {
	tr.sent++
	start := time.Now()
	if err := fn(); err != nil {
		return err
	}
	tr.names = append(tr.names, name)
	tr.times = append(tr.times, time.Since(start))
	return nil
}

func (tr *trace) reset() {
	tr.names, tr.times, tr.sent = tr.names[:0], tr.times[:0], 0
}

// login registers a client when the worker has none (or always, when fresh is set),
// and runs one authorization code flow for it, keeping the tokens.
func (w *worker) login(ctx context.Context, tr *trace, fresh bool) error {
	if w.clientID == "" || fresh {
		w.logins++
		var id string
		err := tr.step("register", func() (err error) {
			id, err = w.t.registerClient(ctx, fmt.Sprintf("mcp-auth-load %s worker %d login %d", w.phase, w.id, w.logins))
			return err
		})
		if err != nil {
			return err
		}
		w.clientID = id
	}
	var code, verifier string
	var requests int
	err := tr.step("authorize", func() (err error) {
		code, verifier, requests, err = w.t.authorizeCode(ctx, w.clientID)
		return err
	})
	tr.sent += int64(max(requests-1, 0)) // redirects followed to a consent page
	if err != nil {
		return err
	}
	return tr.step("token", func() (err error) {
		w.tok, err = w.t.exchangeCode(ctx, w.clientID, code, verifier)
		return err
	})
}

// setup prepares the worker for its phase; it is not measured.
func (w *worker) setup(ctx context.Context) error {
	var tr trace
	switch w.phase {
	case PhaseLogin:
		if w.t.cfg.ReuseClient {
			return tr.step("register", func() (err error) {
				w.clientID, err = w.t.registerClient(ctx, fmt.Sprintf("mcp-auth-load login worker %d", w.id))
				return err
			})
		}
		return nil
	case PhaseRefresh:
		if err := w.login(ctx, &tr, true); err != nil {
			return err
		}
		if w.tok.RefreshToken == "" {
			return &StepError{Step: "token", Status: 200, Code: "no refresh_token",
				Detail: "the target issued no refresh token (does the client need the offline_access scope? -scope)"}
		}
		return nil
	case PhaseBearer:
		w.t.mcpClose(ctx, w.tok.AccessToken, w.session)
		w.session = nil
		if err := w.login(ctx, &tr, true); err != nil {
			return err
		}
		if w.t.cfg.BearerMethod == "initialize" {
			return nil // each operation opens (and closes) its own session
		}
		s, err := w.t.mcpInitialize(ctx, w.tok.AccessToken)
		if err != nil {
			return err
		}
		w.session = s
		return nil
	}
	return fmt.Errorf("load: unknown phase %q", w.phase)
}

// op runs one measured operation.
func (w *worker) op(ctx context.Context, tr *trace) error {
	switch w.phase {
	case PhaseLogin:
		return w.login(ctx, tr, !w.t.cfg.ReuseClient)
	case PhaseBearer:
		if w.t.cfg.BearerMethod == "initialize" {
			return w.initializeOnce(ctx, tr)
		}
		return tr.step("mcp "+w.t.cfg.BearerMethod, func() error {
			return w.t.mcpCall(ctx, w.tok.AccessToken, w.session, w.t.cfg.BearerMethod)
		})
	case PhaseRefresh:
		old := w.tok.RefreshToken
		return tr.step("refresh", func() error {
			tok, err := w.t.refreshTokens(ctx, w.clientID, old)
			if err != nil {
				return err
			}
			if tok.RefreshToken == "" || tok.RefreshToken == old {
				// OAuth 2.1 §4.3.1: refresh tokens of public clients rotate.
				return &StepError{Step: "refresh", Status: 200, Code: "not rotated"}
			}
			w.tok = tok
			return nil
		})
	}
	return fmt.Errorf("load: unknown phase %q", w.phase)
}

// initializeOnce is one operation of the bearer phase with the method initialize: an
// initialize request that opens a new MCP session, then, when the server opened a
// session (Mcp-Session-Id), its DELETE, so that a stateful server's sessions do not pile
// up during the run (the go-sdk keeps an idle session for its SessionTimeout).
func (w *worker) initializeOnce(ctx context.Context, tr *trace) error {
	var s *mcpSession
	if err := tr.step("mcp initialize", func() (err error) {
		s = &mcpSession{nextID: 1}
		s.id, s.version, err = w.t.mcpInitializeRequest(ctx, w.tok.AccessToken, s)
		return err
	}); err != nil {
		return err
	}
	if s.id == "" {
		return nil
	}
	return tr.step("mcp delete", func() error { return w.t.mcpDelete(ctx, w.tok.AccessToken, s) })
}

// cleanup ends what setup opened (the MCP session), best effort.
func (w *worker) cleanup(ctx context.Context) {
	if w.session != nil {
		w.t.mcpClose(ctx, w.tok.AccessToken, w.session)
		w.session = nil
	}
}

// runPhase sets up c workers for phase, then runs them until cfg.Duration has passed
// or cfg.Requests operations have started, and collects their measurements.
func (t *target) runPhase(ctx context.Context, phase string, c int) (*Result, error) {
	workers := make([]*worker, c)
	errs := make([]error, c)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{t: t, phase: phase, id: i}
		wg.Go(func() { errs[i] = workers[i].setup(ctx) })
	}
	wg.Wait()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() { w.cleanup(cctx) })
		}
		wg.Wait()
	}()
	for i, err := range errs {
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("load: %s setup of worker %d: %w", phase, i, err)
		}
	}

	var stop atomic.Bool
	var started atomic.Int64
	limit := int64(t.cfg.Requests)
	srv0, srvErr := t.serverCPU() // before the clock starts: it may scan /proc
	timer := time.AfterFunc(t.cfg.Duration, func() { stop.Store(true) })
	defer timer.Stop()
	cpu0 := sampleCPU()
	begin := time.Now()
	for _, w := range workers {
		wg.Go(func() { w.loop(ctx, &stop, &started, limit) })
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cpu1 := sampleCPU()
	srv1, srvErr1 := t.serverCPU()

	res := &Result{Phase: phase, Concurrency: c, Elapsed: elapsed, Interrupted: ctx.Err() != nil}
	if cpu0.ok && cpu1.ok {
		res.HarnessCPU, res.MachineCPU = cpu1.self-cpu0.self, cpu1.machine-cpu0.machine
	}
	merge(res, workers)
	if t.cfg.ServerPID > 0 {
		st, err := ReadProcStats(t.cfg.ServerPID)
		if err == nil {
			err = cmp.Or(srvErr, srvErr1)
		}
		if err != nil {
			return res, err
		}
		res.Server, res.ServerCPU = &st, srv1-srv0
	}
	return res, nil
}

// serverCPU is the CPU time the server (Config.ServerPID) and its helpers (with their
// children) have used so far; zero without a server PID.
func (t *target) serverCPU() (time.Duration, error) {
	if t.cfg.ServerPID <= 0 {
		return 0, nil
	}
	own, err := ProcessCPU([]int{t.cfg.ServerPID}, false)
	if err != nil || len(t.cfg.HelperPIDs) == 0 {
		return own, err
	}
	helpers, err := ProcessCPU(t.cfg.HelperPIDs, true)
	return own + helpers, err
}

// loop runs operations until stop is set, limit operations have started (limit > 0)
// or ctx ends. An operation interrupted by ctx is not counted. After a failed
// operation of the bearer or refresh phase the worker sets up again (unmeasured
// operations, but inside the measured time): its token or session may be gone.
func (w *worker) loop(ctx context.Context, stop *atomic.Bool, started *atomic.Int64, limit int64) {
	var tr trace
	for !stop.Load() && ctx.Err() == nil {
		if limit > 0 && started.Add(1) > limit {
			stop.Store(true)
			return
		}
		tr.reset()
		begin := time.Now()
		err := w.op(ctx, &tr)
		d := time.Since(begin)
		if ctx.Err() != nil {
			return // interrupted: neither a success nor an error of the target
		}
		w.rec.requests += tr.sent
		for i, name := range tr.names {
			if w.rec.steps == nil {
				w.rec.steps = map[string][]time.Duration{}
			}
			w.rec.steps[name] = append(w.rec.steps[name], tr.times[i])
		}
		if err == nil {
			w.rec.ops = append(w.rec.ops, d)
			continue
		}
		w.rec.fail(err)
		if w.phase != PhaseLogin {
			if err := w.setup(ctx); err != nil {
				if ctx.Err() == nil {
					w.rec.fail(fmt.Errorf("setup again: %w", err))
				}
				return
			}
		}
	}
}
