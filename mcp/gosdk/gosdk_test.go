package gosdk_test

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

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

const resource = "https://mcp.example.com/mcp"

func newAS(t *testing.T, s *gormstore.Store, resources ...string) *teststack.Stack {
	t.Helper()
	a := teststack.Start(t, teststack.Bare(s, resources, nil))
	return a
}

func tokens(t *testing.T, a *teststack.Stack, subject, scope, res string) teststack.Tokens {
	t.Helper()
	tok, err := a.Tokens(subject, scope, res)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func post(t *testing.T, url, token string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// go-sdk's own auth.RequireBearerToken with TokenVerifier: errors wrap auth.ErrInvalidToken
// (401), Expiration and UserID are set, a storage failure is not a 401; and go-sdk's
// middleware sends no error="insufficient_scope" (why RequireBearer exists).
func TestTokenVerifier_GoSDKRequireBearerToken(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		a := newAS(t, s, resource, "https://other.example.com/mcp")
		var seen atomic.Pointer[auth.TokenInfo]
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen.Store(auth.TokenInfoFromContext(r.Context())) })
		opts, err := gosdk.RequireBearerTokenOptions(resourceserver.Resource{URL: resource})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(auth.RequireBearerToken(gosdk.TokenVerifier(a.Provider, resource), opts)(handler))
		defer srv.Close()
		scopedOpts, _ := gosdk.RequireBearerTokenOptions(resourceserver.Resource{URL: resource}, "admin")
		scoped := httptest.NewServer(auth.RequireBearerToken(gosdk.TokenVerifier(a.Provider, resource), scopedOpts)(handler))
		defer scoped.Close()

		good := tokens(t, a, "alice", "files:read", resource)
		other := tokens(t, a, "alice", "files:read", "https://other.example.com/mcp")

		if resp := post(t, srv.URL, good.AccessToken, nil, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("valid token: %d", resp.StatusCode)
		}
		ti := seen.Load()
		at, ok := gosdk.AccessToken(ti)
		if ti == nil || ti.UserID != "alice" || time.Until(ti.Expiration) < 50*time.Minute || len(ti.Scopes) != 1 || ti.Scopes[0] != "files:read" ||
			!ok || at.ClientID != a.ClientID("alice") {
			t.Errorf("TokenInfo %+v, access token %+v", ti, at)
		}
		for name, tok := range map[string]string{"garbage": "garbage", "other resource": other.AccessToken, "refresh token": good.RefreshToken} {
			if resp := post(t, srv.URL, tok, nil, ""); resp.StatusCode != http.StatusUnauthorized ||
				!strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
				t.Errorf("%s: %d %v", name, resp.StatusCode, resp.Header)
			}
		}
		// The verifier's errors themselves.
		_, err = gosdk.TokenVerifier(a.Provider, resource)(context.Background(), other.AccessToken, nil)
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("wrong audience: %v", err)
		}
		// go-sdk's insufficient-scope answer: 403 without error="insufficient_scope".
		resp := post(t, scoped.URL, good.AccessToken, nil, "")
		if resp.StatusCode != http.StatusForbidden || strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("go-sdk insufficient scope answer changed: %d %q (update the package doc)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
}

// A storage failure is not an invalid token: go-sdk answers 500, not 401.
func TestTokenVerifier_StorageFailure(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	a := newAS(t, s, resource)
	good := tokens(t, a, "alice", "files:read", resource)
	_ = s.Close()
	_, err := gosdk.TokenVerifier(a.Provider, resource)(context.Background(), good.AccessToken, nil)
	if err == nil || errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("storage failure: %v", err)
	}
}

// RequireBearer in front of a go-sdk server: the go-sdk pins the session to the user
// (UserID), tools see the identity, and a tool needing more scope gets the step-up 403.
func TestRequireBearer_GoSDKServer(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		a := newAS(t, s, resource)
		server := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1"}, nil)
		var ran atomic.Int64
		text := func(s string) *sdk.CallToolResult {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
		}
		sdk.AddTool(server, &sdk.Tool{Name: "whoami"}, func(_ context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			at, ok := gosdk.AccessToken(req.Extra.TokenInfo)
			if !ok {
				return nil, nil, errors.New("no access token")
			}
			return text(at.Subject + " via " + at.ClientID), nil, nil
		})
		sdk.AddTool(server, &sdk.Tool{Name: "purge"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
			ran.Add(1)
			return text("purged"), nil, nil
		})
		protect, err := gosdk.RequireBearer(a.Provider, resourceserver.BearerOptions{
			Resource: resource, Scopes: []string{"files:read"},
			OperationScopes: resourceserver.ToolScopes(map[string][]string{"purge": {"admin"}}),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
		defer srv.Close()

		alice := tokens(t, a, "alice", "files:read", resource)
		bob := tokens(t, a, "bob", "files:read", resource)
		client := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil)
		session, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{
			Endpoint: srv.URL, HTTPClient: &http.Client{Transport: bearerTransport(alice.AccessToken)}, MaxRetries: -1,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close()
		res, err := session.CallTool(context.Background(), &sdk.CallToolParams{Name: "whoami"})
		if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "alice via "+a.ClientID("alice") {
			t.Fatalf("whoami: %+v, %v", res, err)
		}
		// Bob's valid token on Alice's session: go-sdk refuses (session pinned to UserID).
		resp := post(t, srv.URL, bob.AccessToken, map[string]string{"Mcp-Session-Id": session.ID()},
			`{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "user mismatch") {
			t.Errorf("bob on alice's session: %d %s", resp.StatusCode, body)
		}
		if _, err := session.CallTool(context.Background(), &sdk.CallToolParams{Name: "purge"}); err == nil || ran.Load() != 0 {
			t.Errorf("purge without admin: err %v, ran %d times", err, ran.Load())
		}
		// The raw answer a client sees for that call: the step-up challenge.
		call := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"purge","arguments":{}}}`
		resp = post(t, srv.URL, alice.AccessToken, map[string]string{"Mcp-Session-Id": session.ID()}, call)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope", scope="files:read admin"`) {
			t.Errorf("step-up: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
}

// Regression: go-sdk hands every handler of a session the context of the request that
// created the session, so resourceserver.TokenFromContext in a tool handler returned the session's
// first token (here: without the admin scope the current request's token has). Behind
// RequireBearer it now finds nothing; AccessToken(req.Extra.TokenInfo) is the current
// request's token.
func TestRequireBearer_NoStaleTokenInGoSDKSessionContext(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		a := newAS(t, s, resource)
		server := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1"}, nil)
		sdk.AddTool(server, &sdk.Tool{Name: "scopes"}, func(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			at, ok := gosdk.AccessToken(req.Extra.TokenInfo)
			if !ok {
				return nil, nil, errors.New("no access token")
			}
			text := strings.Join(at.Scopes, " ")
			if stale, ok := resourceserver.TokenFromContext(ctx); ok {
				text += " (context: " + strings.Join(stale.Scopes, " ") + ")"
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}, nil, nil
		})
		protect, err := gosdk.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: resource, Scopes: []string{"files:read"}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
		defer srv.Close()

		var current atomic.Value
		current.Store(tokens(t, a, "alice", "files:read", resource).AccessToken)
		transport := roundTripper(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+current.Load().(string))
			return http.DefaultTransport.RoundTrip(r)
		})
		client := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil)
		session, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{
			Endpoint: srv.URL, HTTPClient: &http.Client{Transport: transport}, MaxRetries: -1,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close()
		call := func() string {
			t.Helper()
			res, err := session.CallTool(context.Background(), &sdk.CallToolParams{Name: "scopes"})
			if err != nil || res.IsError {
				t.Fatalf("call: %+v %v", res, err)
			}
			return res.Content[0].(*sdk.TextContent).Text
		}
		if got := call(); got != "files:read" {
			t.Errorf("first token: %q", got)
		}
		current.Store(tokens(t, a, "alice", "files:read admin", resource).AccessToken) // step-up
		if got := call(); got != "files:read admin" {
			t.Errorf("after step-up: %q", got)
		}
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRequireBearer_InvalidOptions(t *testing.T) {
	if _, err := gosdk.RequireBearer(resourceserver.AccessTokenVerifierFunc(func(context.Context, string) (*provider.AccessToken, error) {
		return nil, provider.ErrInvalidToken
	}), resourceserver.BearerOptions{Resource: "not a url"}); err == nil {
		t.Error("invalid resource accepted")
	}
	if _, err := gosdk.RequireBearerTokenOptions(resourceserver.Resource{URL: "/relative"}); err == nil {
		t.Error("invalid resource accepted")
	}
	m := gosdk.ProtectedResourceMetadata(resourceserver.Resource{URL: resource, Name: "Files", Scopes: []string{"a", "offline_access"}}, "https://as.example")
	if m.Resource != resource || m.AuthorizationServers[0] != "https://as.example" || len(m.ScopesSupported) != 1 || m.BearerMethodsSupported[0] != "header" {
		t.Errorf("metadata %+v", m)
	}
}
