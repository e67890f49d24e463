package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fosite-mcp/fosite-mcp/provider/metrics"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, b)
	}
	return string(b)
}

// Labels come from fixed lists: a grant type, error code or status nobody registered
// is "other", so that a client cannot grow the number of series.
func TestLabelsAreBounded(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Observe(ctx, observe.Event{Kind: observe.TokenRefused, GrantType: "urn:evil:" + strings.Repeat("x", 50), ErrorCode: "made_up"})
	m.Observe(ctx, observe.Event{Kind: observe.TokensIssued, GrantType: "refresh_token"})
	m.Observe(ctx, observe.Event{Kind: observe.Request, Endpoint: observe.EndpointToken, Status: 999, ErrorCode: "made_up"})
	m.Observe(ctx, observe.Event{Kind: observe.BearerChecked, Outcome: "weird"})
	m.Observe(ctx, observe.Event{Kind: observe.MetadataDocumentFetched, Outcome: "weird"})
	body := scrape(t, m)
	for _, want := range []string{
		`fosite_mcp_token_requests_total{grant_type="other",outcome="other"} 1`,
		`fosite_mcp_token_requests_total{grant_type="refresh_token",outcome="issued"} 1`,
		`fosite_mcp_http_request_duration_seconds_count{endpoint="token",status="other"} 1`,
		`fosite_mcp_oauth_errors_total{endpoint="token",error="other"} 1`,
		`fosite_mcp_bearer_checks_total{outcome="invalid"} 1`,
		`fosite_mcp_fetches_total{kind="cimd",outcome="error"} 1`,
		`fosite_mcp_security_events_total{event="login_failed"} 0`,
		`go_goroutines`, // the default registry carries the runtime collectors
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(body, "evil") || strings.Contains(body, "made_up") || strings.Contains(body, "weird") {
		t.Error("a label carries a value from a request")
	}
}

// The events of the bearer path and of every request cost no allocation.
func TestObserveHotPathsDoNotAllocate(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []observe.Event{
		{Kind: observe.BearerChecked, Outcome: observe.BearerOK, Duration: time.Microsecond},
		{Kind: observe.Request, Endpoint: observe.EndpointToken, Status: 200, Duration: time.Millisecond},
		{Kind: observe.TokensIssued, GrantType: "authorization_code", ClientID: "c", Subject: "s"},
	} {
		m.Observe(ctx, e) // create the series
		if n := testing.AllocsPerRun(100, func() { m.Observe(ctx, e) }); n != 0 {
			t.Errorf("%s: %v allocations per event", e.Kind, n)
		}
	}
}

type countingGrants struct {
	calls atomic.Int32
	n     int64
	err   error
}

func (c *countingGrants) CountLiveGrants(context.Context) (int64, error) {
	c.calls.Add(1)
	return c.n, c.err
}

// live_grants asks the storage at scrape time, at most once per TTL; a failure keeps the
// last value and counts a storage error.
func TestLiveGrantsCached(t *testing.T) {
	g := &countingGrants{n: 7}
	m, err := metrics.New(metrics.Options{LiveGrants: g})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if body := scrape(t, m); !strings.Contains(body, "fosite_mcp_live_grants 7") {
			t.Fatalf("live grants missing:\n%s", body)
		}
	}
	if c := g.calls.Load(); c != 1 {
		t.Errorf("%d storage counts for 3 scrapes within the TTL, want 1", c)
	}
	if _, err := metrics.New(metrics.Options{LiveGrantsCacheTTL: time.Second}); err == nil {
		t.Error("a TTL under 10 s was accepted")
	}
}

// With the caller's registry the metrics land there (nothing global); a Registerer that
// cannot be gathered needs a Gatherer.
func TestCallerRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Options{Registerer: reg, Namespace: "mine", LiveGrants: &countingGrants{err: errors.New("down")}})
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(context.Background(), observe.Event{Kind: observe.RefreshReuseDetected})
	scrape(t, m) // the failed count is counted while this scrape gathers
	body := scrape(t, m)
	for _, want := range []string{"mine_refresh_token_reuse_detected_total 1", "mine_live_grants 0", `mine_storage_errors_total{where="live grants"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	if strings.Contains(body, "go_goroutines") {
		t.Error("runtime collectors added to the caller's registry")
	}
	if _, err := metrics.New(metrics.Options{Registerer: reg, Namespace: "mine"}); err == nil {
		t.Error("registering the same metrics twice succeeded")
	}
	if _, err := metrics.New(metrics.Options{Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"a": "b"}, reg)}); err == nil {
		t.Error("a Registerer without Gatherer was accepted")
	}
}

// BenchmarkObserveBearerChecked is what the metrics observer adds to each bearer check
// (the middleware's probe aside): one counter and one histogram update.
func BenchmarkObserveBearerChecked(b *testing.B) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e := observe.Event{Kind: observe.BearerChecked, Endpoint: observe.EndpointMCP, Outcome: observe.BearerOK, Duration: 40 * time.Microsecond}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(ctx, e)
	}
}
