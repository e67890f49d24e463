package conformance_test

import (
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/conformance"
	"github.com/fosite-mcp/fosite-mcp/test/internal/demoproc"
	"github.com/fosite-mcp/fosite-mcp/test/internal/testidp"
)

// TestConformance_DemoIDJAG runs the suite against the demo trusting a test IdP
// (-trust-idp ISSUER=JWKS_URL) with that IdP's signing key in Target.IDJAG, on SQLite and
// PostgreSQL: every IDJAG-* check passes, and the rest as in TestConformance_Demo.
func TestConformance_DemoIDJAG(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo server (-short)")
	}
	bin := demoBinary.Path(t)
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		idp, _ := testidp.Start(t)
		m2mArgs, m2m := machineClient(t)
		d := demoproc.Start(t, bin, demoproc.Options{DB: db, AutoApprove: demoproc.User,
			Args: append(append([]string{"-trust-idp", idp.Issuer + "=" + idp.Issuer + testidp.JWKSPath}, m2mArgs...), noRateLimit...)})
		rep := runAgainstDemo(t, d, conformance.Target{IDJAG: &conformance.IDJAGIssuer{Issuer: idp.Issuer, KeyPEM: idp.PrivateKeyPEM()}, PrivateKeyJWT: m2m})
		n := 0
		for _, res := range rep.Results {
			if strings.HasPrefix(res.ID, "IDJAG-") {
				n++
				if res.Status != conformance.Pass {
					t.Errorf("%s: %s, want pass: %s %v", res.ID, res.Status, res.Detail, res.Evidence)
				}
			}
		}
		if n != 11 {
			t.Errorf("%d IDJAG checks ran, want 11", n)
		}
		requireDemoOutcome(t, rep, demoOutcome())
	})
}
