package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// The protected resources' scopes: every MCP request needs scopeTools (the resource's
// default scope), the admin tool also needs scopeAdmin (per-tool step-up).
const (
	scopeTools = "tools"
	scopeAdmin = "admin"
	// subject is the user the auto-approving authorization server logs in.
	subject = "alice"
	// redirectURI is where the clients say they listen; nothing does: the code fetchers
	// read the authorization response from the Location header instead.
	redirectURI = "http://127.0.0.1:8765/callback"
)

// quiet discards the servers' logs.
var quiet = slog.New(slog.DiscardHandler)

// stack is one mcp.New authorization server in front of two MCP endpoints (one with
// stackConfig.oneResource), over loopback HTTP, with every request the servers saw
// recorded.
type stack struct {
	// auth is the mcp.New server.
	auth *mcp.Server
	// issuer is the authorization server's issuer.
	issuer string
	// resource is the main MCP endpoint's URL (resource scopes tools and admin, default
	// scope tools); other is a second MCP endpoint of the same authorization server
	// (scope tools), for audience tests.
	resource, other string
	// rs is the mux of the resource server's host; tests mount the MCP endpoints on it.
	rs *http.ServeMux
	// rec saw every request to the authorization server's and the resource server's host.
	rec *recorder
}

// stackConfig varies the topology.
type stackConfig struct {
	// issuerPath is appended to the authorization server's origin to make the issuer,
	// e.g. "/oauth" (metadata then lives at the path-inserted well-known URL).
	issuerPath string
	// separateHosts puts the MCP endpoints on another origin than the authorization
	// server, with the protected resource metadata served there.
	separateHosts bool
	// edit changes the provider configuration (token lifespans).
	edit func(*provider.Config)
	// oneResource leaves out the other resource: with a single resource, mcp.New's
	// compat.Default binds authorization requests without resource to it.
	oneResource bool
	// compat replaces mcp.New's default shims (compat.Default).
	compat *compat.Options
	// jwt is mcp.Config.JWTAccessTokens (nil: opaque access tokens).
	jwt *mcp.JWTAccessTokens
}

// newStack starts the servers. The MCP endpoints are mounted by the test.
func newStack(t testing.TB, store *gormstore.Store, sc stackConfig) *stack {
	t.Helper()
	rec := &recorder{}
	asSrv := httptest.NewUnstartedServer(nil)
	rsSrv := asSrv
	if sc.separateHosts {
		rsSrv = httptest.NewUnstartedServer(nil)
	}
	asOrigin := "http://" + asSrv.Listener.Addr().String()
	rsOrigin := "http://" + rsSrv.Listener.Addr().String()
	s := &stack{issuer: asOrigin + sc.issuerPath, resource: rsOrigin + "/mcp", other: rsOrigin + "/other", rec: rec}
	cfg := provider.Config{
		Issuer:       s.issuer,
		Storage:      store,
		GlobalSecret: []byte("e2e-test-global-secret-0123456789abcdef"),
		AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) {
			return subject, true
		},
		Logger: quiet,
	}
	if sc.edit != nil {
		sc.edit(&cfg)
	}
	resources := []resourceserver.Resource{
		{URL: s.resource, Name: "Tools", Scopes: []string{scopeTools, scopeAdmin}, DefaultScopes: []string{scopeTools}},
		{URL: s.other, Name: "Other tools", Scopes: []string{scopeTools}, DefaultScopes: []string{scopeTools}},
	}
	if sc.oneResource {
		resources, s.other = resources[:1], ""
	}
	var err error
	s.auth, err = mcp.New(t.Context(), mcp.Config{Provider: cfg, Resources: resources, Compat: sc.compat, JWTAccessTokens: sc.jwt})
	if err != nil {
		t.Fatal(err)
	}
	asMux := http.NewServeMux()
	s.auth.Register(asMux)
	asSrv.Config.Handler = rec.wrap(asMux)
	s.rs = asMux
	if sc.separateHosts {
		s.rs = http.NewServeMux()
		s.rs.Handle(resourceserver.WellKnownPath, s.auth.ProtectedResourceMetadata())
		s.rs.Handle(resourceserver.WellKnownPath+"/", s.auth.ProtectedResourceMetadata())
		rsSrv.Config.Handler = rec.wrap(s.rs)
		rsSrv.Start()
		t.Cleanup(rsSrv.Close)
	}
	asSrv.Start()
	t.Cleanup(asSrv.Close)
	return s
}

// bearerOptions guards the main MCP endpoint: scopeTools on every request, scopeAdmin
// for the admin tool.
func (s *stack) bearerOptions() resourceserver.BearerOptions {
	return resourceserver.BearerOptions{
		Resource:        s.resource,
		Scopes:          []string{scopeTools},
		OperationScopes: resourceserver.ToolScopes(map[string][]string{"admin": {scopeAdmin}}),
		Logger:          quiet,
	}
}

// identity is what the whoami and admin tools answer: the verified token, never the
// token itself.
type identity struct {
	Subject   string    `json:"subject"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	Audience  []string  `json:"audience"`
	ExpiresAt time.Time `json:"expires_at"`
	GrantID   string    `json:"grant_id"`
	// InContext says whether resourceserver.TokenFromContext found a token in the tool handler's
	// context, and Context is that token when it differs from the request's (a stale
	// token, which must never happen).
	InContext bool      `json:"in_context"`
	Context   *identity `json:"context,omitempty"`
}

// identityOf returns at's identity; fromContext is resourceserver.TokenFromContext's answer.
func identityOf(at, fromContext *provider.AccessToken) identity {
	id := identity{Subject: at.Subject, ClientID: at.ClientID, Scopes: at.Scopes, Audience: at.Audience,
		ExpiresAt: at.ExpiresAt, GrantID: at.GrantID, InContext: fromContext != nil}
	if fromContext != nil {
		if c := identityOf(fromContext, nil); !reflect.DeepEqual(c, identityOf(at, nil)) {
			id.Context = &c
		}
	}
	return id
}

// check fails t unless id is subject's token for resource with exactly scopes.
func (id identity) check(t testing.TB, resource string, scopes ...string) {
	t.Helper()
	if id.Subject != subject || id.ClientID == "" || !slices.Equal(id.Audience, []string{resource}) ||
		!sameSet(id.Scopes, scopes) || time.Until(id.ExpiresAt) <= 0 || id.GrantID == "" {
		t.Fatalf("identity %+v, want subject %s, audience %s, scopes %v", id, subject, resource, scopes)
	}
	if id.Context != nil {
		t.Fatalf("the tool's context holds another token than the request's: %+v, request's %+v", *id.Context, id)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// noRedirects is an HTTP client that returns redirects instead of following them: the
// browser of the tests.
var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// authorize plays the user's browser on an authorization URL: the authorization server
// auto-approves, and the redirect's query (code, state, iss, or error) is returned.
func authorize(ctx context.Context, authURL string) (url.Values, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("authorize: status %d: %s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(loc.String(), redirectURI) {
		return nil, fmt.Errorf("authorize: redirected to %s, not the redirect URI", loc.Redacted())
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return q, fmt.Errorf("authorize: %s: %s", e, q.Get("error_description"))
	}
	return q, nil
}

// event is one request the servers saw. Credentials (codes, tokens, secrets, verifiers)
// are recorded as present, never by value.
type event struct {
	Method, Path string
	Status       int
	// Challenge is the response's WWW-Authenticate header.
	Challenge string
	// Params are the query (GET) or form body (POST) parameters.
	Params url.Values
	// JSON is a JSON request body (registration requests).
	JSON map[string]any
	// Basic says the request carried HTTP Basic client credentials.
	Basic bool
}

func (e event) String() string {
	return fmt.Sprintf("%s %s → %d %v %v %s", e.Method, e.Path, e.Status, e.Params, e.JSON, e.Challenge)
}

// recorder records every request through wrap.
type recorder struct {
	mu     sync.Mutex
	events []event
}

var credentialParams = []string{"code", "code_verifier", "refresh_token", "client_secret", "token", "access_token"}

func (rec *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := event{Method: r.Method, Path: r.URL.Path, Params: r.URL.Query()}
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Basic ") {
			e.Basic = true
		}
		if r.Method == http.MethodPost && r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			switch ct := r.Header.Get("Content-Type"); {
			case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
				e.Params, _ = url.ParseQuery(string(body))
			case strings.HasPrefix(ct, "application/json") && strings.Contains(r.URL.Path, mcp.RegistrationPath):
				_ = json.Unmarshal(body, &e.JSON)
			}
		}
		for _, p := range credentialParams {
			if e.Params.Has(p) {
				e.Params.Set(p, "(present)")
			}
		}
		// The event is recorded when the response header is written, before the client
		// can see any of the response, so a test never misses a request its client saw
		// answered.
		sw := &statusWriter{ResponseWriter: w, record: func(status int, h http.Header) {
			e.Status, e.Challenge = status, h.Get("WWW-Authenticate")
			rec.mu.Lock()
			rec.events = append(rec.events, e)
			rec.mu.Unlock()
		}}
		next.ServeHTTP(sw, r)
		sw.WriteHeader(http.StatusOK) // if the handler wrote nothing
	})
}

// all returns the events so far.
func (rec *recorder) all() []event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.events)
}

// at returns the events so far whose path ends in suffix and, if grant is not empty,
// whose grant_type is grant.
func (rec *recorder) at(suffix, grant string) []event {
	var out []event
	for _, e := range rec.all() {
		if strings.HasSuffix(e.Path, suffix) && (grant == "" || e.Params.Get("grant_type") == grant) {
			out = append(out, e)
		}
	}
	return out
}

// expectSequence fails t unless the recorded events contain steps in this order (other
// events may come between). Each step matches a method, a path suffix and a status.
func (rec *recorder) expectSequence(t testing.TB, steps ...step) {
	t.Helper()
	events := rec.all()
	i := 0
	for _, e := range events {
		if i < len(steps) && steps[i].matches(e) {
			i++
		}
	}
	if i < len(steps) {
		var b strings.Builder
		for _, e := range events {
			fmt.Fprintln(&b, "  ", e)
		}
		t.Fatalf("step %d (%v) not seen; the servers saw:\n%s", i, steps[i], b.String())
	}
}

type step struct {
	method, suffix string
	status         int // or anyRedirect
}

// anyRedirect matches any 3xx status.
const anyRedirect = -3

func (s step) matches(e event) bool {
	status := e.Status == s.status || s.status == anyRedirect && e.Status/100 == 3
	return e.Method == s.method && strings.HasSuffix(e.Path, s.suffix) && status
}

// statusWriter reports the status and header of a response when it is written; it keeps
// the writer flushable for SSE streams.
type statusWriter struct {
	http.ResponseWriter
	record func(status int, h http.Header)
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.record(code, w.Header())
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bearerCall POSTs a tools/call of tool to endpoint with token, as a client outside any
// session, and returns the response (body read and closed).
func bearerCall(t testing.TB, endpoint, token, tool string) (*http.Response, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
