package resourceserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/syncbuf"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/cors"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// This file tests how the middleware reads the Authorization header and formats its
// challenges (RFC 6750 §2.1, §3). The verifier here is a lookup table, because these cases
// never reach token validation; token checks against real tokens are in bearer_test.go.

const headerTestToken = "good-token_0123456789.abc~+/="

// countingVerifier accepts headerTestToken and counts calls.
type countingVerifier struct {
	calls    atomic.Int64
	resource string
}

func (v *countingVerifier) VerifyAccessToken(_ context.Context, token string) (*provider.AccessToken, error) {
	v.calls.Add(1)
	if token != headerTestToken {
		return nil, fmt.Errorf("unknown token: %w", provider.ErrInvalidToken)
	}
	return &provider.AccessToken{Subject: "alice", ClientID: "c1", Scopes: []string{"files"},
		Audience: []string{v.resource}, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

// okHandler answers 200 with the identity from the context.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	tok, ok := TokenFromContext(r.Context())
	if !ok {
		http.Error(w, "no token in context", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(tok)
})

type response struct {
	status int
	header http.Header
	body   ErrorResponse
	raw    string
}

func do(t *testing.T, method, url string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// challengeParams parses the response's challenge with go-sdk's client-side parser.
func challengeParams(t *testing.T, r response) map[string]string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate(r.header.Values("WWW-Authenticate"))
	if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" {
		t.Fatalf("WWW-Authenticate %q: %+v %v", r.header.Values("WWW-Authenticate"), cs, err)
	}
	if cs[0].Params == nil {
		return map[string]string{}
	}
	return cs[0].Params
}

func TestRequireBearer_RFC6750_2_1_AuthorizationHeaderOnly(t *testing.T) {
	const resource = "https://mcp.example.com/mcp"
	v := &countingVerifier{resource: resource}
	logs := &syncbuf.Buffer{}
	h := MustRequireBearer(v, BearerOptions{
		Resource: resource, Scopes: []string{"files:read"},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})(okHandler)
	srv := httptest.NewServer(h)
	defer srv.Close()
	const metadata = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

	tests := []struct {
		name       string
		query      string
		header     http.Header
		wantStatus int
		wantError  string // error param of the challenge; "" means none
		wantVerify bool   // whether the verifier may be called
	}{
		{"§3.1 no credentials: no error code", "", nil, 401, "", false},
		{"§3.1 other scheme: no error code", "", http.Header{"Authorization": {"Basic YTpi"}}, 401, "", false},
		{"§2.1 Bearer", "", http.Header{"Authorization": {"Bearer " + headerTestToken}}, 200, "", true},
		{"§2.1 scheme is case-insensitive", "", http.Header{"Authorization": {"bEaReR " + headerTestToken}}, 200, "", true},
		{"§2.1 extra spaces before token", "", http.Header{"Authorization": {"Bearer   " + headerTestToken}}, 200, "", true},
		{"§2.1 empty token is malformed", "", http.Header{"Authorization": {"Bearer"}}, 401, provider.ErrorCodeInvalidToken, false},
		{"§2.1 token with space is malformed", "", http.Header{"Authorization": {"Bearer a b"}}, 401, provider.ErrorCodeInvalidToken, false},
		{"§2.1 token with quote is malformed", "", http.Header{"Authorization": {`Bearer a"b`}}, 401, provider.ErrorCodeInvalidToken, false},
		{"§2.1 only padding is malformed", "", http.Header{"Authorization": {"Bearer =="}}, 401, provider.ErrorCodeInvalidToken, false},
		{"§2.1 padding inside is malformed", "", http.Header{"Authorization": {"Bearer a=b"}}, 401, provider.ErrorCodeInvalidToken, false},
		{"§3.1 unknown token", "", http.Header{"Authorization": {"Bearer unknown"}}, 401, provider.ErrorCodeInvalidToken, true},
		{"§2.3 query token refused unverified", "access_token=" + headerTestToken, nil, 401, provider.ErrorCodeInvalidRequest, false},
		{"§3.1 two methods refused", "access_token=" + headerTestToken, http.Header{"Authorization": {"Bearer " + headerTestToken}}, 401, provider.ErrorCodeInvalidRequest, false},
		{"§3.1 repeated header refused", "", http.Header{"Authorization": {"Bearer " + headerTestToken, "Bearer " + headerTestToken}}, 401, provider.ErrorCodeInvalidRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := v.calls.Load()
			url := srv.URL + "/mcp"
			if tt.query != "" {
				url += "?" + tt.query
			}
			r := do(t, http.MethodPost, url, tt.header)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			if called := v.calls.Load() > before; called && !tt.wantVerify {
				t.Error("verifier was called")
			}
			if r.status == 200 {
				if r.header.Get("WWW-Authenticate") != "" {
					t.Error("challenge on success")
				}
				return
			}
			p := challengeParams(t, r)
			if p["error"] != tt.wantError {
				t.Errorf("error = %q, want %q (%v)", p["error"], tt.wantError, p)
			}
			if p["resource_metadata"] != metadata {
				t.Errorf("resource_metadata = %q", p["resource_metadata"])
			}
			if p["scope"] != "files:read" {
				t.Errorf("scope = %q", p["scope"])
			}
			if tt.wantError == "" && p["error_description"] != "" {
				t.Errorf("error_description without error: %q", p["error_description"])
			}
			if tt.wantError != "" && (p["error_description"] == "" || r.body.Error != tt.wantError || r.body.ErrorDescription == "") {
				t.Errorf("description %q, body %+v", p["error_description"], r.body)
			}
			if got := r.header.Get("Access-Control-Expose-Headers"); got != "WWW-Authenticate" {
				t.Errorf("Access-Control-Expose-Headers = %q", got)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	if strings.Contains(logs.String(), headerTestToken) {
		t.Errorf("a token reached the log:\n%s", logs.String())
	}
}

func TestNewBearer_Validation(t *testing.T) {
	v := &countingVerifier{}
	for name, opts := range map[string]BearerOptions{
		"no resource":       {},
		"relative resource": {Resource: "/mcp"},
		"fragment":          {Resource: "https://h/mcp#x"},
		"bad scope":         {Resource: "https://h/mcp", Scopes: []string{"a b"}},
		"bad metadata URL":  {Resource: "https://h/mcp", ResourceMetadataURL: "javascript:x"},
	} {
		if _, err := NewBearer(v, opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewBearer(nil, BearerOptions{Resource: "https://h/mcp"}); err == nil {
		t.Error("nil verifier accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("RequireBearer with invalid options did not panic")
		}
	}()
	MustRequireBearer(v, BearerOptions{})
}

// CORS preflights carry no credentials (Fetch standard): the middleware answers them
// itself and the handler never sees a request without a verified token. Only a real
// preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered; any other
// OPTIONS needs a token like every request. Refusals to a cross-origin request are
// readable by the browser (Access-Control-Allow-Origin, WWW-Authenticate exposed).
func TestBearer_CORSPreflightAnsweredByMiddleware(t *testing.T) {
	v := &countingVerifier{resource: "https://h/mcp"}
	var reached atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(MustRequireBearer(v, BearerOptions{Resource: "https://h/mcp"})(inner))
	defer srv.Close()

	r := do(t, http.MethodOptions, srv.URL, http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}})
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Mcp-Session-Id") ||
		r.header.Get("Access-Control-Max-Age") == "" {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	r = do(t, http.MethodOptions, srv.URL, http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"authorization,content-type,x-custom"}})
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Headers") != "authorization,content-type,x-custom" {
		t.Errorf("preflight with requested headers: %d %v", r.status, r.header)
	}
	r = do(t, http.MethodOptions, srv.URL, http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"x-a;y, (b)"}})
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Headers") != cors.DefaultAllowHeaders {
		t.Errorf("preflight with a malformed header list: %d %v", r.status, r.header)
	}
	for name, h := range map[string]http.Header{
		"plain OPTIONS":       nil,
		"Origin only":         {"Origin": {"https://app.example"}},
		"request method only": {"Access-Control-Request-Method": {"POST"}},
	} {
		r := do(t, http.MethodOptions, srv.URL, h)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d", name, r.status)
		}
		if (h.Get("Origin") != "") != (r.header.Get("Access-Control-Allow-Origin") == "*") {
			t.Errorf("%s: Access-Control-Allow-Origin %q", name, r.header.Get("Access-Control-Allow-Origin"))
		}
	}
	// A preflight carrying a (valid) token is still just a preflight.
	r = do(t, http.MethodOptions, srv.URL, http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"},
		"Authorization": {"Bearer " + headerTestToken}})
	if r.status != http.StatusNoContent {
		t.Errorf("preflight with token: %d", r.status)
	}
	if reached.Load() != 0 || v.calls.Load() != 0 {
		t.Errorf("handler reached %d times, verifier called %d times", reached.Load(), v.calls.Load())
	}
	// With a token an OPTIONS is an ordinary authenticated request.
	r = do(t, http.MethodOptions, srv.URL, http.Header{"Authorization": {"Bearer " + headerTestToken}})
	if r.status != http.StatusTeapot || reached.Load() != 1 {
		t.Errorf("OPTIONS with token: %d", r.status)
	}
}
