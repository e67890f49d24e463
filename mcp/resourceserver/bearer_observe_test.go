package resourceserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// With an Observer, the bearer middleware reports one BearerChecked event per decision
// with the RFC 6750 outcome (ok, invalid, expired, insufficient_scope) or the server's
// (unavailable for a storage outage, also reported as a storage error; error for a
// failing verifier), and the handler behind still gets the original ResponseWriter
// (streaming needs its Flusher). CORS preflights are no check.
func TestBearerObserver_RFC6750Outcomes(t *testing.T) {
	const resource = "https://mcp.example.com/mcp"
	valid := func(scopes []string, exp time.Time) *provider.AccessToken {
		return &provider.AccessToken{Subject: "alice", ClientID: "c", Scopes: scopes, Audience: []string{resource}, ExpiresAt: exp}
	}
	later := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name, header string
		tok          *provider.AccessToken
		err          error
		status       int
		outcome      string
	}{
		{"valid token", "Bearer ok", valid([]string{"files:read"}, later), nil, 200, observe.BearerOK},
		{"no credentials", "", nil, nil, 401, observe.BearerInvalid},
		{"unknown token", "Bearer x", nil, fmt.Errorf("%w: unknown", provider.ErrInvalidToken), 401, observe.BearerInvalid},
		{"expired token", "Bearer x", valid([]string{"files:read"}, time.Now().Add(-time.Minute)), nil, 401, observe.BearerExpired},
		{"missing scope", "Bearer x", valid([]string{"other"}, later), nil, 403, observe.BearerInsufficientScope},
		{"storage down", "Bearer x", nil, fmt.Errorf("%w: db", provider.ErrStorageUnavailable), 503, observe.BearerUnavailable},
		{"verifier fails", "Bearer x", nil, errors.New("boom"), 500, observe.BearerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var events []observe.Event
			obs := observe.Func(func(_ context.Context, e observe.Event) { events = append(events, e) })
			v := resourceserver.AccessTokenVerifierFunc(func(context.Context, string) (*provider.AccessToken, error) { return tc.tok, tc.err })
			flushable := false
			h := resourceserver.MustRequireBearer(v, resourceserver.BearerOptions{Resource: resource, Scopes: []string{"files:read"}, Observer: obs})(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, flushable = w.(http.Flusher) }))
			req := httptest.NewRequest(http.MethodPost, resource, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if len(events) == 0 || events[0].Kind != observe.BearerChecked || events[0].Outcome != tc.outcome || events[0].Duration <= 0 {
				t.Fatalf("events %+v, want one BearerChecked %s with a duration", events, tc.outcome)
			}
			if tc.outcome == observe.BearerUnavailable && (len(events) != 2 || events[1].Kind != observe.StorageError) {
				t.Errorf("storage outage: events %+v, want a StorageError too", events)
			}
			if tc.outcome == observe.BearerOK && !flushable {
				t.Error("the handler did not get the original (flushable) ResponseWriter")
			}
		})
	}
	t.Run("preflight", func(t *testing.T) {
		n := 0
		h := resourceserver.MustRequireBearer(resourceserver.AccessTokenVerifierFunc(func(context.Context, string) (*provider.AccessToken, error) { return nil, nil }),
			resourceserver.BearerOptions{Resource: resource, Observer: observe.Func(func(context.Context, observe.Event) { n++ })})(http.NotFoundHandler())
		req := httptest.NewRequest(http.MethodOptions, resource, nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent || n != 0 {
			t.Errorf("preflight: %d, %d events; want 204 and none", rec.Code, n)
		}
	})
}
