package load_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
	"github.com/fosite-mcp/fosite-mcp/test/load"
)

// demoBinary is ./cmd/demo, built at most once per test binary.
var demoBinary *demoproc.Binary

func TestMain(m *testing.M) { os.Exit(demoproc.Main(m, &demoBinary)) }

// Load only goes to this machine unless AllowRemote: a target outside the loopback
// range is refused before any request.
func TestRun_RefusesNonLoopbackTarget(t *testing.T) {
	for _, u := range []string{
		"http://10.1.2.3/mcp",
		"http://192.168.1.10:8080/mcp",
		"http://172.16.0.1/mcp",
		"https://example.com/mcp",
		"http://[fe80::1]/mcp",
		"http://[::ffff:10.0.0.1]/mcp",
		"http://localhost.example.com/mcp",
	} {
		rep, err := load.Run(context.Background(), load.Config{MCPURL: u})
		if err == nil || !strings.Contains(err.Error(), "refusing target host") {
			t.Errorf("Run(%s): %v, want a refusal", u, err)
		}
		if rep != nil {
			t.Errorf("Run(%s) returned a report", u)
		}
	}
}

// Concurrency is capped at MaxConcurrency and a run's measured time at
// MaxTotalDuration; unknown phases and bearer methods are refused.
func TestRun_RefusesConfigurationsOverTheLimits(t *testing.T) {
	base := load.Config{MCPURL: "http://127.0.0.1:1/mcp"}
	for name, edit := range map[string]func(*load.Config){
		"concurrency above the cap": func(c *load.Config) { c.Concurrency = []int{8, load.MaxConcurrency + 1} },
		"zero concurrency":          func(c *load.Config) { c.Concurrency = []int{0} },
		"measured time above the cap": func(c *load.Config) {
			c.Concurrency, c.Duration = []int{1, 8}, load.MaxTotalDuration/6+time.Second // 3 phases × 2 levels
		},
		"negative duration":     func(c *load.Config) { c.Duration = -time.Second },
		"negative request cap":  func(c *load.Config) { c.Requests = -1 },
		"unknown phase":         func(c *load.Config) { c.Phases = []string{"login", "logout"} },
		"unknown bearer method": func(c *load.Config) { c.BearerMethod = "tools/call" },
		"not http":              func(c *load.Config) { c.MCPURL = "ftp://127.0.0.1/mcp" },
	} {
		cfg := base
		edit(&cfg)
		if rep, err := load.Run(context.Background(), cfg); err == nil || rep != nil {
			t.Errorf("%s: Run accepted the configuration (%v)", name, err)
		}
	}
}

// The metadata of a loopback target may not send the load elsewhere: every endpoint it
// names is checked like the target.
func TestRun_RefusesNonLoopbackEndpointsInMetadata(t *testing.T) {
	for _, tc := range []struct{ name, issuer, token string }{
		{"authorization server", "http://203.0.113.5", ""},
		{"token endpoint", "", "http://10.9.8.7/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				issuer := srv.URL
				if tc.issuer != "" {
					issuer = tc.issuer
				}
				token := srv.URL + "/token"
				if tc.token != "" {
					token = tc.token
				}
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/.well-known/oauth-protected-resource/mcp":
					_ = json.NewEncoder(w).Encode(map[string]any{"resource": srv.URL + "/mcp", "authorization_servers": []string{issuer}})
				case "/.well-known/oauth-authorization-server":
					_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": srv.URL + "/authorize",
						"token_endpoint": token, "registration_endpoint": srv.URL + "/register"})
				default:
					t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			_, err := load.Run(context.Background(), load.Config{MCPURL: srv.URL + "/mcp", Duration: time.Second})
			if err == nil || !strings.Contains(err.Error(), "refusing target host") {
				t.Fatalf("Run: %v, want a refusal of the %s", err, tc.name)
			}
		})
	}
}

// Every phase against the real demo (a subprocess on a loopback port, auto-approving,
// without the per-address rate limits that would throttle load from one address):
// zero errors and non-zero throughput. A correctness smoke test, not a measurement:
// opaque access tokens on SQLite and JWT access tokens on PostgreSQL (when available).
func TestRun_EveryPhaseAgainstTheDemo(t *testing.T) {
	for _, backend := range gormtest.Backends(t) {
		tokens := map[string]string{gormtest.SQLite: "opaque", gormtest.Postgres: "jwt"}[backend]
		t.Run(backend+"/"+tokens, func(t *testing.T) {
			bin := demoBinary.Path(t)
			d := demoproc.Start(t, bin, demoproc.Options{
				DB:          gormtest.NewDatabase(t, backend),
				AutoApprove: demoproc.User,
				Args:        []string{"-access-tokens", tokens, "-rate-limit=false"},
			})
			rep, err := load.Run(context.Background(), load.Config{
				MCPURL:      d.MCPURL,
				Concurrency: []int{2},
				Duration:    time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			var phases []string
			for _, res := range rep.Results {
				phases = append(phases, res.Phase)
				if res.Errors != 0 {
					t.Errorf("%s: %d errors: %v", res.Phase, res.Errors, res.ErrorSamples)
				}
				if res.Operations == 0 || res.Throughput <= 0 || res.Requests < res.Operations {
					t.Errorf("%s: %d operations, %d requests, %.1f/s", res.Phase, res.Operations, res.Requests, res.Throughput)
				}
				if l := res.Latency; l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max || l.Max > res.Elapsed {
					t.Errorf("%s: latency %+v out of order", res.Phase, l)
				}
				if runtime.GOOS == "linux" && (res.HarnessCPU <= 0 || res.MachineCPU <= 0) {
					t.Errorf("%s: CPU harness %s, machine %s: want both measured on Linux", res.Phase, res.HarnessCPU, res.MachineCPU)
				}
				// The phase's deadline starts with its workers, its clock a moment later:
				// a 1 s phase can measure a fraction of a millisecond short.
				if res.Elapsed < 900*time.Millisecond || res.Elapsed > 10*time.Second {
					t.Errorf("%s: ran %s, want about 1 s", res.Phase, res.Elapsed)
				}
				if res.Phase == load.PhaseLogin {
					var steps []string
					for _, s := range res.Steps {
						steps = append(steps, s.Name)
						if s.Requests < res.Operations {
							t.Errorf("login step %s: %d requests for %d logins", s.Name, s.Requests, res.Operations)
						}
					}
					if !slices.Equal(steps, []string{"register", "authorize", "token"}) {
						t.Errorf("login steps %v", steps)
					}
					if res.Requests != 3*res.Operations {
						t.Errorf("login: %d requests for %d logins, want 3 each", res.Requests, res.Operations)
					}
				}
			}
			if !slices.Equal(phases, load.Phases) {
				t.Errorf("phases run: %v, want %v", phases, load.Phases)
			}
			if m := regexp.MustCompile(`status=5\d\d`).FindString(d.Logs()); m != "" {
				t.Errorf("the demo answered %s during the run", m)
			}
			var out strings.Builder
			if err := rep.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", out.String())
		})
	}
}

// -n ends a phase after exactly that many operations; a cancelled context (Ctrl-C)
// stops a run at once with the partial results; a target that does not auto-approve
// is named as the cause.
func TestRun_StopsByItself(t *testing.T) {
	bin := demoBinary.Path(t)
	d := demoproc.Start(t, bin, demoproc.Options{AutoApprove: demoproc.User, Args: []string{"-rate-limit=false"}})

	t.Run("request limit", func(t *testing.T) {
		rep, err := load.Run(context.Background(), load.Config{
			MCPURL: d.MCPURL, Phases: []string{load.PhaseRefresh}, Concurrency: []int{3}, Duration: time.Minute, Requests: 25,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := rep.Results[0]; r.Operations != 25 || r.Errors != 0 || r.Elapsed > 30*time.Second {
			t.Errorf("%d operations, %d errors in %s; want 25 operations", r.Operations, r.Errors, r.Elapsed)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		rep, err := load.Run(ctx, load.Config{MCPURL: d.MCPURL, Phases: []string{load.PhaseBearer}, Concurrency: []int{2}, Duration: time.Minute})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Run took %s after the cancellation", took)
		}
		if rep == nil || !rep.Interrupted || len(rep.Results) != 1 || !rep.Results[0].Interrupted {
			t.Fatalf("report %+v: want one interrupted result", rep)
		}
		if r := rep.Results[0]; r.Operations == 0 || r.Errors != 0 {
			t.Errorf("partial result: %d operations, %d errors", r.Operations, r.Errors)
		}
	})
}

// Without auto-approval the authorization request ends at the login page: the run
// fails at setup and says how to start the target.
func TestRun_TargetMustAutoApprove(t *testing.T) {
	d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{})
	_, err := load.Run(context.Background(), load.Config{MCPURL: d.MCPURL, Phases: []string{load.PhaseBearer}, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "-auto-approve") {
		t.Fatalf("Run: %v, want a setup error naming -auto-approve", err)
	}
}

// A target that rate-limits the harness's address answers 429: the errors are counted
// by kind and say how to turn the limits off, instead of passing for slowness.
func TestRun_RateLimitedTargetIsReported(t *testing.T) {
	d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{AutoApprove: demoproc.User}) // limits on: the default
	rep, err := load.Run(context.Background(), load.Config{
		MCPURL: d.MCPURL, Phases: []string{load.PhaseLogin}, Duration: 10 * time.Second, Requests: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	const kind = "register 429 temporarily_unavailable"
	if r.ErrorKinds[kind] == 0 || r.Errors != r.ErrorKinds[kind] || r.Operations+r.Errors != 100 {
		t.Fatalf("%d operations, errors %v; want %q errors", r.Operations, r.ErrorKinds, kind)
	}
	if !strings.Contains(r.ErrorSamples[kind], "-rate-limit=false") {
		t.Errorf("error sample %q does not say how to turn the limits off", r.ErrorSamples[kind])
	}
}
