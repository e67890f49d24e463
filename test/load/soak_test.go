package load_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
	"github.com/fosite-mcp/fosite-mcp/test/load"
)

// Issue 14: the soak's cycle (login, session, pings, rotation, close, revocation, the
// revoked token refused) runs against the real demo without a single error, and the
// time series has the server's RSS, threads and descriptors and the database size at
// every interval. Opaque tokens on SQLite: the access token dies with the revoked
// refresh token (RFC 7009 §2.1). JWT on PostgreSQL: the check is skipped (a JWT stays
// valid until it expires).
func TestSoak_MixedLoadAgainstTheDemo(t *testing.T) {
	for _, backend := range gormtest.Backends(t) {
		tokens := map[string]string{gormtest.SQLite: "opaque", gormtest.Postgres: "jwt"}[backend]
		t.Run(backend+"/"+tokens, func(t *testing.T) {
			db := gormtest.NewDatabase(t, backend)
			d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{
				DB: db, AutoApprove: demoproc.User, Args: []string{"-access-tokens", tokens, "-rate-limit=false"},
			})
			cfg := load.SoakConfig{MCPURL: d.MCPURL, ServerPID: d.PID(), Duration: 3 * time.Second, Interval: time.Second, Concurrency: 2, BearerCalls: 4}
			if backend == gormtest.SQLite {
				cfg.DBSize = func(context.Context) (int64, error) {
					st, err := os.Stat(db.Path)
					if err != nil {
						return 0, err
					}
					return st.Size(), nil
				}
			}
			rep, err := load.Soak(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Errors != 0 {
				t.Errorf("%d errors: %v", rep.Errors, rep.ErrorSamples)
			}
			for _, k := range []string{load.SoakLogin, load.SoakInitialize, load.SoakBearer, load.SoakRefresh, load.SoakClose, load.SoakRevoke} {
				if rep.Operations[k] == 0 {
					t.Errorf("no %s operations: %v", k, rep.Operations)
				}
			}
			if got := rep.Operations[load.SoakRevoked]; (tokens == "opaque") != (got > 0) {
				t.Errorf("%s tokens: %d revoked tokens refused", tokens, got)
			}
			if n := len(rep.Samples); n < 3 || n > 5 || rep.Samples[0].At != 0 || rep.Samples[n-1].At < 3*time.Second {
				t.Fatalf("%d samples: want one at 0, one a second, one at the end", n)
			}
			for i, s := range rep.Samples {
				if runtime.GOOS == "linux" && (s.Server == nil || s.Server.RSS <= 0 || s.Server.Threads <= 0 || s.Server.FDs <= 0) {
					t.Errorf("sample %d: server %+v", i, s.Server)
				}
				if (backend == gormtest.SQLite) != (s.DBBytes > 0) {
					t.Errorf("sample %d: database %d bytes", i, s.DBBytes)
				}
			}
			var out strings.Builder
			if err := rep.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "errors: 0\n") {
				t.Errorf("report:\n%s", out.String())
			}
			t.Logf("\n%s", out.String())
		})
	}
}

// The soak is bounded: at most MaxSoakDuration, sampled at least a second apart, and
// refused (no report) otherwise.
func TestSoak_RefusesConfigurationsOverTheLimits(t *testing.T) {
	base := load.SoakConfig{MCPURL: "http://127.0.0.1:1/mcp"}
	for name, edit := range map[string]func(*load.SoakConfig){
		"longer than the cap":   func(c *load.SoakConfig) { c.Duration = load.MaxSoakDuration + time.Second },
		"negative duration":     func(c *load.SoakConfig) { c.Duration = -time.Minute },
		"interval under 1 s":    func(c *load.SoakConfig) { c.Interval = 100 * time.Millisecond },
		"interval over the run": func(c *load.SoakConfig) { c.Duration, c.Interval = 10*time.Second, 20*time.Second },
		"too many workers":      func(c *load.SoakConfig) { c.Concurrency = load.MaxConcurrency + 1 },
		"remote":                func(c *load.SoakConfig) { c.MCPURL = "http://198.51.100.7/mcp" },
		"negative bearer calls": func(c *load.SoakConfig) { c.BearerCalls = -1 },
	} {
		cfg := base
		edit(&cfg)
		if rep, err := load.Soak(context.Background(), cfg); err == nil || rep != nil {
			t.Errorf("%s: Soak accepted the configuration (%v)", name, err)
		}
	}
}
