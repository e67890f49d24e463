package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Event names are a public contract (log searches, SIEM rules, metric labels): every
// kind has one, distinct, and they never change once released.
func TestKindNamesAreStableAndDistinct(t *testing.T) {
	want := map[observe.Kind]string{
		observe.LoginSucceeded: "login_succeeded", observe.LoginFailed: "login_failed",
		observe.ConsentApproved: "consent_approved", observe.ConsentDenied: "consent_denied",
		observe.ConsentRemembered: "consent_remembered", observe.ClientRegistered: "client_registered",
		observe.ClientUpdated: "client_updated", observe.ClientDeleted: "client_deleted",
		observe.TokensIssued: "tokens_issued", observe.RefreshReuseDetected: "refresh_reuse_detected",
		observe.TokenRevoked: "token_revoked", observe.GrantRevoked: "grant_revoked",
		observe.RateLimited: "rate_limited", observe.MetadataDocumentBlocked: "cimd_fetch_blocked",
	}
	seen := map[string]bool{}
	for _, k := range observe.Kinds() {
		name := k.String()
		if name == "unknown" || seen[name] {
			t.Errorf("kind %d: name %q missing or repeated", k, name)
		}
		seen[name] = true
		if w, ok := want[k]; ok != k.Audited() || (ok && w != name) {
			t.Errorf("kind %d: name %q audited %v; want %q audited %v", k, name, k.Audited(), w, ok)
		}
	}
	if observe.Kind(0).String() != "unknown" {
		t.Error("the zero Kind must not have a name")
	}
}

// Join drops nil observers and returns nil when none is left, so that "off" stays a nil
// check; otherwise every observer sees every event in order.
func TestJoin(t *testing.T) {
	if observe.Join(nil, nil) != nil {
		t.Fatal("Join of nils is not nil")
	}
	var got []string
	a := observe.Func(func(_ context.Context, e observe.Event) { got = append(got, "a:"+e.Kind.String()) })
	b := observe.Func(func(_ context.Context, e observe.Event) { got = append(got, "b:"+e.Kind.String()) })
	observe.Join(nil, observe.Join(a, nil), b).Observe(context.Background(), observe.Event{Kind: observe.Purged})
	if strings.Join(got, " ") != "a:purged b:purged" {
		t.Errorf("got %v", got)
	}
	if observe.New(nil, nil, nil) != nil {
		t.Error("New without observer and audit is not nil")
	}
}

// The audit log writes audited kinds only, at Info, with the documented keys; a
// client's refusals after its first in a period are not logged.
func TestAuditLog(t *testing.T) {
	var buf bytes.Buffer
	obs := observe.New(nil, &observe.AuditOptions{}, slog.New(slog.NewJSONHandler(&buf, nil)))
	ctx := context.Background()
	obs.Observe(ctx, observe.Event{Kind: observe.TokensIssued, ClientID: "c1", Subject: "alice", GrantType: "authorization_code",
		Scopes: []string{"a", "b"}, Resources: []string{"https://mcp.example/mcp"}})
	obs.Observe(ctx, observe.Event{Kind: observe.Request, Endpoint: observe.EndpointToken, Status: 200})
	obs.Observe(ctx, observe.Event{Kind: observe.RateLimited, Endpoint: "token", ClientIP: "192.0.2.1", Reason: "limit_reached"})
	obs.Observe(ctx, observe.Event{Kind: observe.RateLimited, Endpoint: "token", ClientIP: "192.0.2.1"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "INFO", "msg": "audit.tokens_issued", "client_id": "c1", "subject": "alice",
		"grant_type": "authorization_code", "scope": "a b", "resource": "https://mcp.example/mcp"}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
	if !strings.Contains(lines[1], `"msg":"audit.rate_limited"`) || !strings.Contains(lines[1], `"client_ip":"192.0.2.1"`) {
		t.Errorf("rate limit line: %s", lines[1])
	}
}

// Handler reports each request once with its status, the OAuth error code the handler
// noted, and a duration; without an observer it is the handler itself. The recorder
// keeps http.ResponseController working (Flush through Unwrap).
func TestHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		observe.NoteError(w, "invalid_grant")
		w.WriteHeader(http.StatusBadRequest)
		_ = http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "{}")
	})
	if got := observe.Handler(nil, "token", h); got == nil {
		t.Fatal("nil handler")
	}
	var events []observe.Event
	wrapped := observe.Handler(observe.Func(func(_ context.Context, e observe.Event) { events = append(events, e) }), observe.EndpointToken, h)
	rec := httptest.NewRecorder()
	wrapped.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/token", nil))
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	e := events[0]
	if e.Kind != observe.Request || e.Endpoint != "token" || e.Status != 400 || e.ErrorCode != "invalid_grant" || e.Duration <= 0 {
		t.Errorf("event %+v", e)
	}
	if !rec.Flushed {
		t.Error("Flush did not reach the underlying writer")
	}
	observe.NoteError(rec, "x") // not observed: nothing happens
}
