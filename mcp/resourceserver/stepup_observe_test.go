package resourceserver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/metrics"
)

// TestBearerMetrics_StepUpRefusalIsInsufficientScope (RFC 6750 §3.1, MCP step-up
// authorization): a token the outer middleware lets through but RequireScopes behind it
// refuses with 403 insufficient_scope is counted as an insufficient_scope check in
// provider/metrics, not as ok; a request that passes both is ok. Over HTTP on loopback.
func TestBearerMetrics_StepUpRefusalIsInsufficientScope(t *testing.T) {
	const resource = "https://mcp.example.com/mcp"
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string][]string{"reader": {"files:read"}, "admin": {"files:read", "admin"}}
	v := resourceserver.AccessTokenVerifierFunc(func(_ context.Context, raw string) (*provider.AccessToken, error) {
		return &provider.AccessToken{Subject: "alice", ClientID: "c", Scopes: tokens[raw], Audience: []string{resource},
			ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	bearer := resourceserver.MustRequireBearer(v, resourceserver.BearerOptions{Resource: resource, Scopes: []string{"files:read"}, Observer: m})
	mux := http.NewServeMux()
	mux.Handle("/admin", bearer(resourceserver.MustRequireScopes("admin")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))))
	mux.Handle("/metrics", m.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/admin", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call("reader"); got != http.StatusForbidden {
		t.Fatalf("reader token on /admin: %d, want 403", got)
	}
	if got := call("admin"); got != http.StatusOK {
		t.Fatalf("admin token on /admin: %d, want 200", got)
	}
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`bearer_checks_total{outcome="insufficient_scope"} 1`,
		`bearer_checks_total{outcome="ok"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(string(body), "bearer_checks_total"))
		}
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
