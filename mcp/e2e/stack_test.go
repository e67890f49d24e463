package e2e_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
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

// stack is teststack's full server (mcp.New) in front of two MCP endpoints (one with
// stackConfig.oneResource), over loopback HTTP, with every request the servers saw
// recorded (Recorder). MCPURL is the main MCP endpoint (resource scopes tools and
// admin, default scope tools); OtherURL a second MCP endpoint of the same authorization
// server (scope tools), for audience tests. Tests mount the MCP endpoints on
// ResourceMux.
type stack struct{ *teststack.Stack }

// stackConfig varies the topology.
type stackConfig struct {
	// issuerPath is appended to the authorization server's origin to make the issuer,
	// e.g. "/oauth" (metadata then lives at the path-inserted well-known URL); empty: the
	// origin is the issuer.
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
	origin := teststack.Origin
	if sc.separateHosts {
		origin = teststack.OtherOrigin
	}
	resources := []resourceserver.Resource{
		{URL: origin + "/mcp", Name: "Tools", Scopes: []string{scopeTools, scopeAdmin}, DefaultScopes: []string{scopeTools}},
		{URL: origin + "/other", Name: "Other tools", Scopes: []string{scopeTools}, DefaultScopes: []string{scopeTools}},
	}
	if sc.oneResource {
		resources = resources[:1]
	}
	return &stack{teststack.Start(t, teststack.Options{
		Store:           store,
		IssuerPath:      sc.issuerPath,
		RootIssuer:      sc.issuerPath == "",
		Resources:       resources,
		Subject:         subject,
		Provider:        sc.edit,
		Compat:          sc.compat,
		JWTAccessTokens: sc.jwt,
		Record:          true,
		Logger:          quiet,
	})}
}

// bearerOptions guards the main MCP endpoint: scopeTools on every request, scopeAdmin
// for the admin tool.
func (s *stack) bearerOptions() resourceserver.BearerOptions {
	return resourceserver.BearerOptions{
		Resource:        s.MCPURL,
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
