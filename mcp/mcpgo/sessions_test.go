package mcpgo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgosdk "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/mcpgo"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// sessionStack is an mcp-go StreamableHTTPServer behind mcpgo.RequireBearer with session
// options, on loopback HTTP; live counts the sessions mcp-go has registered (its own
// hooks, not the Guard's count).
type sessionStack struct {
	as   *teststack.Stack
	url  string
	live atomic.Int64
}

func newSessionStack(t *testing.T, s *gormstore.Store, o *sessions.Options, serverOpts ...server.StreamableHTTPOption) *sessionStack {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	st := &sessionStack{url: "http://" + srv.Listener.Addr().String() + "/mcp"}
	a := teststack.Start(t, teststack.Bare(s, []string{st.url}, nil))
	st.as = a
	hooks := &server.Hooks{}
	hooks.AddOnRegisterSession(func(context.Context, server.ClientSession) { st.live.Add(1) })
	hooks.AddOnUnregisterSession(func(context.Context, server.ClientSession) { st.live.Add(-1) })
	var purged atomic.Int64
	mcpServer := filesServer(&purged)
	server.WithHooks(hooks)(mcpServer)
	protect, err := mcpgo.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: st.url}, mcpgo.WithSessions(teststack.SessionOptions(o)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = protect(server.NewStreamableHTTPServer(mcpServer, serverOpts...))
	srv.Start()
	t.Cleanup(srv.Close)
	return st
}

func (s *sessionStack) whoami(t *testing.T, token, sid string) (int, string) {
	t.Helper()
	status, body, err := teststack.CallTool(s.url, token, sid, "whoami")
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// mcp-go does not tie a session to a user: any token with a known Mcp-Session-Id reached
// that session. Now a session created with alice's token (by the real mcp-go client)
// refuses bob's valid token with 403 and never runs bob's call in it; an unknown session
// ID gets 404; alice's own requests work.
func TestRequireBearer_MCPGoSessionPinnedToUser(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		for name, opts := range map[string][]server.StreamableHTTPOption{
			"default session IDs":  nil,
			"stateful session IDs": {server.WithStateful(true)},
		} {
			t.Run(name, func(t *testing.T) {
				st := newSessionStack(t, s, nil, opts...)
				alice, err := st.as.Tokens("alice", "files", st.url)
				if err != nil {
					t.Fatal(err)
				}
				bob, err := st.as.Tokens("bob", "files", st.url)
				if err != nil {
					t.Fatal(err)
				}
				c, err := client.NewStreamableHttpClient(st.url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + alice.AccessToken}))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				// 2025-06-18: the protocol versions after it have no sessions.
				if err := c.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				init := mcpgosdk.InitializeRequest{}
				init.Params.ProtocolVersion = "2025-06-18"
				init.Params.ClientInfo = mcpgosdk.Implementation{Name: "test", Version: "1"}
				if _, err := c.Initialize(t.Context(), init); err != nil {
					t.Fatal(err)
				}
				sid := c.GetSessionId()
				if sid == "" {
					t.Fatal("no session ID")
				}
				if status, body := st.whoami(t, bob.AccessToken, sid); status != http.StatusForbidden || strings.Contains(body, "Subject") {
					t.Errorf("bob on alice's session: %d %s", status, body)
				}
				if status, body := st.whoami(t, bob.AccessToken, "mcp-session-00000000-0000-4000-8000-000000000000"); status != http.StatusNotFound {
					t.Errorf("unknown session: %d %s", status, body)
				}
				if id := whoami(t, c); id["Subject"] != "alice" {
					t.Errorf("alice on her session: %v", id)
				}
			})
		}
	})
}

// Issue 14 finding 2 for mcp-go: 200 initializes with one token leave at most
// MaxPerSubject sessions registered in mcp-go; the oldest is answered 404.
func TestRequireBearer_MCPGoSessionsBoundedPerSubject(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const limit = 8
		st := newSessionStack(t, s, &sessions.Options{MaxPerSubject: limit})
		tok, err := st.as.Tokens("alice", "files", st.url)
		if err != nil {
			t.Fatal(err)
		}
		var first string
		for i := range 200 {
			sid, err := teststack.Open(st.url, tok.AccessToken, fmt.Sprint("client ", i))
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = sid
			}
		}
		if !teststack.Eventually(5*time.Second, func() bool { return st.live.Load() <= limit }) {
			t.Fatalf("%d sessions registered in mcp-go after 200 initializes, want ≤ %d", st.live.Load(), limit)
		}
		if status, body := st.whoami(t, tok.AccessToken, first); status != http.StatusNotFound {
			t.Errorf("evicted session: %d %s", status, body)
		}
	})
}

// A revoked grant's mcp-go session is closed (unregistered from mcp-go) within
// RevalidateInterval.
func TestRequireBearer_MCPGoRevokedGrantClosesSession(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		st := newSessionStack(t, s, &sessions.Options{RevalidateInterval: 50 * time.Millisecond})
		tok, err := st.as.Tokens("alice", "files", st.url)
		if err != nil {
			t.Fatal(err)
		}
		sid, err := teststack.Open(st.url, tok.AccessToken, "doomed")
		if err != nil {
			t.Fatal(err)
		}
		if n := st.live.Load(); n != 1 {
			t.Fatalf("%d sessions registered", n)
		}
		if err := st.as.Revoke("alice", tok.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if !teststack.Eventually(5*time.Second, func() bool { return st.live.Load() == 0 }) {
			t.Fatalf("%d sessions registered after the revocation", st.live.Load())
		}
		fresh, err := st.as.Tokens("alice", "files", st.url)
		if err != nil {
			t.Fatal(err)
		}
		if status, _ := st.whoami(t, fresh.AccessToken, sid); status != http.StatusNotFound {
			t.Errorf("revoked grant's session: %d, want 404", status)
		}
	})
}

// An initialize over MaxBodyBytes gets 413 with a JSON-RPC error and registers nothing
// (mcp-go itself reads any size).
func TestRequireBearer_MCPGoOversizedInitializeRefused(t *testing.T) {
	st := newSessionStack(t, gormtest.Open(t, gormtest.SQLite), &sessions.Options{MaxBodyBytes: 64 << 10})
	tok, err := st.as.Tokens("alice", "files", st.url)
	if err != nil {
		t.Fatal(err)
	}
	status, sid, body, err := teststack.Post(st.url, tok.AccessToken, "", teststack.InitializeBody(strings.Repeat("n", 64<<10)))
	if err != nil || status != http.StatusRequestEntityTooLarge || sid != "" || !strings.Contains(body, `"code":-32600`) {
		t.Errorf("oversized initialize: %d %q %s %v", status, sid, body, err)
	}
	if n := st.live.Load(); n != 0 {
		t.Errorf("%d sessions registered", n)
	}
}

// The HTTP+SSE transport (2024-11-05) named the session only in the message URL, and
// mcp-go accepted any user's token there (202, the reply going to the session owner's
// stream). Now bob's token on alice's session gets 403, an unknown session 404; and an
// SSE session counts toward MaxPerSubject: a second stream of alice's ends the first.
func TestRequireBearer_MCPGoSSESessionPinnedAndBounded(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		srv := httptest.NewUnstartedServer(nil)
		base := "http://" + srv.Listener.Addr().String()
		a := teststack.Start(t, teststack.Bare(s, []string{base + "/sse"}, nil))
		var purged atomic.Int64
		protect, err := mcpgo.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: base + "/sse"},
			mcpgo.WithSessions(teststack.SessionOptions(&sessions.Options{MaxPerSubject: 1})))
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = protect(server.NewSSEServer(filesServer(&purged), server.WithBaseURL(base)))
		srv.Start()
		t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for them
		alice, err := a.Tokens("alice", "files", base+"/sse")
		if err != nil {
			t.Fatal(err)
		}
		bob, err := a.Tokens("bob", "files", base+"/sse")
		if err != nil {
			t.Fatal(err)
		}
		first, err := teststack.OpenSSE(t.Context(), base+"/sse", alice.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(first.Close)
		init := teststack.InitializeBody("sse")
		if status, _, body, err := teststack.Post(first.Endpoint, bob.AccessToken, "", init); err != nil || status != http.StatusForbidden {
			t.Errorf("bob on alice's SSE session: %d %s %v", status, body, err)
		}
		if status, _, body, err := teststack.Post(base+"/message?sessionId=00000000-0000-4000-8000-000000000000", bob.AccessToken, "", init); err != nil || status != http.StatusNotFound {
			t.Errorf("unknown SSE session: %d %s %v", status, body, err)
		}
		// A security review: bob's own session in the header (or go-sdk's sessionid), alice's
		// in mcp-go's sessionId: checked against bob's, delivered to alice's (202) before.
		bobs, err := teststack.OpenSSE(t.Context(), base+"/sse", bob.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bobs.Close)
		bobSession := bobs.SessionID()
		if status, _, body, err := teststack.Post(first.Endpoint, bob.AccessToken, bobSession, init); err != nil || status != http.StatusBadRequest {
			t.Errorf("bob's session in the header, alice's in sessionId: %d %s %v, want 400", status, body, err)
		}
		if status, _, body, err := teststack.Post(first.Endpoint+"&sessionid="+url.QueryEscape(bobSession), bob.AccessToken, "", init); err != nil || status != http.StatusBadRequest {
			t.Errorf("bob's session in sessionid, alice's in sessionId: %d %s %v, want 400", status, body, err)
		}
		if status, _, body, err := teststack.Post(first.Endpoint, alice.AccessToken, "", init); err != nil || status != http.StatusAccepted {
			t.Errorf("alice on her SSE session: %d %s %v", status, body, err)
		}
		second, err := teststack.OpenSSE(t.Context(), base+"/sse", alice.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(second.Close)
		select {
		case <-first.Ended:
		case <-time.After(5 * time.Second):
			t.Error("alice's first SSE stream still open beyond MaxPerSubject 1")
		}
	})
}
