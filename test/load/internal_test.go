package load

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The dial guard refuses a non-loopback address before any packet is sent, even when
// the URL checks were bypassed (here: by calling the HTTP client directly).
func TestDial_RefusesNonLoopbackAddress(t *testing.T) {
	tg := newTarget(Config{Timeout: 5 * time.Second})
	defer tg.close()
	for _, u := range []string{"http://10.255.255.1/", "http://192.0.2.1:8080/mcp", "http://[2001:db8::1]/"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := tg.hc.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s: no error, want a refusal to dial", u)
		}
		if !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("GET %s: %v, want the dial guard's refusal", u, err)
		}
	}
}

// Nearest-rank percentiles: the smallest value that at least p % of the values do not
// exceed.
func TestLatencyOf_NearestRankPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := latencyOf(ds)
	want := Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("latencyOf(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := latencyOf([]time.Duration{7}); got != (Latency{7, 7, 7, 7}) {
		t.Errorf("latencyOf(one value) = %+v", got)
	}
	if got := latencyOf(nil); got != (Latency{}) {
		t.Errorf("latencyOf(nil) = %+v, want zero", got)
	}
}

// A streamable HTTP answer is JSON or an SSE stream whose events carry JSON-RPC
// messages; the response to the request is the one with its id.
func TestJSONRPCResult_JSONAndSSE(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		wantResult, wantCode    string
	}{
		{"json", "application/json", `{"jsonrpc":"2.0","id":3,"result":{}}`, `{}`, ""},
		{"sse", "text/event-stream", "event: message\nid: 1_0\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[]}}\n\n", `{"tools":[]}`, ""},
		{"sse other messages first", "text/event-stream; charset=utf-8",
			"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\ndata: {\"jsonrpc\":\"2.0\",\n" +
				"data: \"id\":3,\"result\":{}}\n\n", `{}`, ""},
		{"error", "application/json", `{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"method not found"}}`, "", "jsonrpc -32601"},
		{"other id", "application/json", `{"jsonrpc":"2.0","id":4,"result":{}}`, "", "no response to the request"},
		{"no result", "application/json", `{"jsonrpc":"2.0","id":3}`, "", "no result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := jsonRPCResult(tc.contentType, []byte(tc.body), 3)
			if tc.wantCode != "" {
				if err == nil || err.Code != tc.wantCode {
					t.Fatalf("error %v, want code %q", err, tc.wantCode)
				}
				return
			}
			if err != nil || string(res) != tc.wantResult {
				t.Fatalf("result %s, error %v; want %s", res, err, tc.wantResult)
			}
		})
	}
}

// Errors are counted by step, status and error code; a transport error has no status.
func TestStepError_Kind(t *testing.T) {
	for _, tc := range []struct {
		err  StepError
		want string
	}{
		{StepError{Step: "refresh", Status: 400, Code: "invalid_grant", Detail: "x"}, "refresh 400 invalid_grant"},
		{StepError{Step: "mcp ping", Status: 401, Code: "invalid_token"}, "mcp ping 401 invalid_token"},
		{StepError{Step: "register", Status: 500}, "register 500"},
		{StepError{Step: "token", Code: "timeout"}, "token transport: timeout"},
	} {
		if got := tc.err.Kind(); got != tc.want {
			t.Errorf("Kind() = %q, want %q", got, tc.want)
		}
	}
}

// The well-known URLs insert the suffix between host and path (RFC 8414 §3.1, RFC
// 9728 §3.1).
func TestWellKnown_PathInsertion(t *testing.T) {
	for _, tc := range []struct{ in, name, want string }{
		{"http://127.0.0.1:8080/mcp", "oauth-protected-resource", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"},
		{"http://127.0.0.1:8080", "oauth-authorization-server", "http://127.0.0.1:8080/.well-known/oauth-authorization-server"},
		{"http://localhost/tenant/", "oauth-authorization-server", "http://localhost/.well-known/oauth-authorization-server/tenant"},
	} {
		if got, err := wellKnown(tc.in, tc.name); err != nil || got != tc.want {
			t.Errorf("wellKnown(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// AllowRemote lifts the loopback restriction (validated without sending anything).
func TestConfig_AllowRemote(t *testing.T) {
	cfg := Config{MCPURL: "https://mcp.example.com/mcp"}
	if _, err := cfg.withDefaults(); err == nil {
		t.Fatal("a remote target was accepted without AllowRemote")
	}
	cfg.AllowRemote = true
	if _, err := cfg.withDefaults(); err != nil {
		t.Fatalf("AllowRemote: %v", err)
	}
	if err := cfg.checkURL("token_endpoint", "http://10.0.0.1/token"); err != nil {
		t.Fatalf("AllowRemote: endpoint refused: %v", err)
	}
}
