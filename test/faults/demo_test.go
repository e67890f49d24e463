package faults_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
	"github.com/fosite-mcp/fosite-mcp/test/internal/pgcluster"
)

var demoBinary *demoproc.Binary

func TestMain(m *testing.M) { os.Exit(demoproc.Main(m, &demoBinary)) }

// TestIssue14_DemoDatabaseOutage is the report against the demo itself (go run
// ./cmd/demo -postgres …): with its PostgreSQL stopped, /healthz (liveness) stays 200,
// /readyz answers 503 with Retry-After, the token endpoint answers a registered client's
// refresh with 503 temporarily_unavailable (it answered 401 invalid_client), the MCP
// endpoint answers a valid token with 503 (it answered 500), registration and the
// authorization endpoint with 503; after the restart the same process serves the same
// grant again.
func TestIssue14_DemoDatabaseOutage(t *testing.T) {
	cluster := pgcluster.Start(t)
	d := demoproc.Start(t, demoBinary.Path(t), demoproc.Options{
		DB:          gormtest.Database{Backend: gormtest.Postgres, DSN: cluster.DSN},
		AutoApprove: demoproc.User,
		Args:        []string{"-rate-limit=false"},
	})
	c := newClient(d.MCPURL)
	g := c.login(t, d.Issuer, d.Issuer, d.Issuer)
	probe := func(path string) reply { return c.do(path, mustRequest(t, d.Issuer+path)) }
	if r := probe("/readyz"); r.Status != http.StatusOK {
		t.Fatalf("/readyz before the outage: %v", r)
	}

	cluster.Stop(t)
	if r := probe("/healthz"); r.Status != http.StatusOK {
		t.Errorf("/healthz during the outage: %v; want 200 (the process is up)", r)
	}
	if r := probe("/readyz"); r.Status != http.StatusServiceUnavailable || r.RetryAfter == "" {
		t.Errorf("/readyz during the outage: %v; want 503 with Retry-After", r)
	}
	a, _ := c.authorize(d.Issuer, g.ClientID)
	for _, r := range []reply{
		c.refresh(d.Issuer, g.ClientID, g.RefreshToken),
		c.call(d.MCPURL, g.AccessToken),
		c.register(d.Issuer),
		a,
	} {
		if !r.unavailable() {
			t.Errorf("during the outage: %v; want 503 temporarily_unavailable with Retry-After", r)
		}
	}

	cluster.Start(t)
	r := c.refresh(d.Issuer, g.ClientID, g.RefreshToken)
	if !r.ok() {
		t.Fatalf("refresh after the restart: %v", r)
	}
	if got := c.call(d.MCPURL, r.AccessToken); got.Status != http.StatusOK {
		t.Errorf("MCP call after the restart: %v", got)
	}
	if got := probe("/readyz"); got.Status != http.StatusOK {
		t.Errorf("/readyz after the restart: %v", got)
	}
}
