package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// scrapeMetrics GETs the demo's /metrics over HTTP and returns every sample by its
// name and labels as written ("name{label=\"v\"}"), and the raw body.
func scrapeMetrics(t *testing.T, demo *testDemo) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(demo.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out, string(body)
}

// The demo's /metrics, scraped over real HTTP, moves as a user logs in through the
// consent pages (one wrong password first), the client redeems the code, refreshes, and
// calls the MCP endpoint with and without its token; no label carries a client ID, a
// subject or a URL. After a restart (a fresh cache) the live grants gauge counts the
// grant from the database.
func TestDemoMetricsMoveWithLoginRefreshAndBearer(t *testing.T) {
	for _, backend := range gormtest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			demo := startDemo(t, demoOptions{db: gormtest.NewDatabase(t, backend)})
			demo.cfg.Metrics = true
			demo.restart()
			before, _ := scrapeMetrics(t, demo)

			c := demo.register(t, "Metrics App", "http://127.0.0.1:9/callback", nil)
			f := startFlow(t, demo, demo.authorizeURL(c, "st-m", "demo:tools"))
			f.post(url.Values{authRequestParam: {f.id}, "csrf_token": {f.csrf()}, "action": {"login"}, "username": {"alice"}, "password": {"wrong"}})
			if f.status != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", f.status)
			}
			f.login("alice", "wonderland")
			tok := demo.exchange(t, c, f.decide("approve").Query().Get("code"))
			resp, err := http.PostForm(demo.url+"/token", url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {tok["refresh_token"].(string)}, "client_id": {c.ID}})
			if err != nil {
				t.Fatal(err)
			}
			var refreshed struct {
				AccessToken string `json:"access_token"`
			}
			err = json.NewDecoder(resp.Body).Decode(&refreshed)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("refresh: %d %v", resp.StatusCode, err)
			}
			resp, err = http.PostForm(demo.url+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"}, "client_id": {c.ID}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			for _, bearer := range []string{"", "Bearer " + refreshed.AccessToken} { // the refresh revoked the first one
				req, _ := http.NewRequest(http.MethodPost, demo.mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				if bearer != "" {
					req.Header.Set("Authorization", bearer)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}

			wants := []struct {
				sample string
				delta  float64
			}{
				{`fosite_mcp_token_requests_total{grant_type="authorization_code",outcome="issued"}`, 1},
				{`fosite_mcp_token_requests_total{grant_type="refresh_token",outcome="issued"}`, 1},
				{`fosite_mcp_token_requests_total{grant_type="refresh_token",outcome="invalid_grant"}`, 1},
				{`fosite_mcp_oauth_errors_total{endpoint="token",error="invalid_grant"}`, 1},
				{`fosite_mcp_http_request_duration_seconds_count{endpoint="token",status="200"}`, 2},
				{`fosite_mcp_http_request_duration_seconds_count{endpoint="registration",status="201"}`, 1},
				{`fosite_mcp_bearer_checks_total{outcome="ok"}`, 1},
				{`fosite_mcp_bearer_checks_total{outcome="invalid"}`, 1},
				{`fosite_mcp_bearer_check_duration_seconds_count`, 2},
				{`fosite_mcp_security_events_total{event="login_failed"}`, 1},
				{`fosite_mcp_security_events_total{event="login_succeeded"}`, 1},
				{`fosite_mcp_security_events_total{event="consent_approved"}`, 1},
				{`fosite_mcp_security_events_total{event="client_registered"}`, 1},
				{`fosite_mcp_security_events_total{event="tokens_issued"}`, 2},
			}
			// The bearer middleware reports a request once its handler has returned, which
			// can be just after the client read the response: scrape until the counters
			// settle (2 s at most).
			var (
				after map[string]float64
				body  string
			)
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				after, body = scrapeMetrics(t, demo)
				settled := true
				for _, want := range wants {
					settled = settled && after[want.sample]-before[want.sample] == want.delta
				}
				if settled || time.Now().After(deadline) {
					break
				}
			}
			for _, want := range wants {
				if got := after[want.sample] - before[want.sample]; got != want.delta {
					t.Errorf("%s moved by %v, want %v", want.sample, got, want.delta)
				}
			}
			u, _ := url.Parse(demo.url)
			for _, leak := range []string{c.ID, "alice", u.Host} {
				if strings.Contains(body, leak) {
					t.Errorf("/metrics contains %q: labels must not carry client IDs, subjects or URLs", leak)
				}
			}

			demo.restart() // a fresh live grants cache
			fresh, _ := scrapeMetrics(t, demo)
			if got := fresh["fosite_mcp_live_grants"]; got < 1 {
				t.Errorf("fosite_mcp_live_grants = %v after a login, want at least 1", got)
			}
			if t.Failed() {
				t.Logf("/metrics:\n%s", body)
			}
		})
	}
}
