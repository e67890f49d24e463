package gosdk_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// sessionStack is a go-sdk server behind gosdk.RequireBearer with session options, on
// loopback HTTP.
type sessionStack struct {
	as     *teststack.Stack
	server *sdk.Server
	url    string
}

func newSessionStack(t *testing.T, s *gormstore.Store, o *sessions.Options) *sessionStack {
	t.Helper()
	a := newAS(t, s, resource)
	server := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1"}, nil)
	sdk.AddTool(server, &sdk.Tool{Name: "whoami"}, func(_ context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
		at, _ := gosdk.AccessToken(req.Extra.TokenInfo)
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "subject=" + at.Subject}}}, nil, nil
	})
	protect, err := gosdk.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: resource}, gosdk.WithSessions(teststack.SessionOptions(o)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
	t.Cleanup(srv.Close)
	return &sessionStack{as: a, server: server, url: srv.URL}
}

// live counts the go-sdk server's sessions (the SDK's own count, not the Guard's).
func (s *sessionStack) live() int {
	n := 0
	for range s.server.Sessions() {
		n++
	}
	return n
}

func (s *sessionStack) open(t *testing.T, token, name string) string {
	t.Helper()
	sid, err := teststack.Open(s.url, token, name)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func (s *sessionStack) call(t *testing.T, token, sid string) (int, string) {
	t.Helper()
	status, body, err := teststack.CallTool(s.url, token, sid, "whoami")
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// Issue 14 finding 2: one token opened 19,000 go-sdk sessions in 8 s (each kept 30
// minutes with its initialize payload). Now a user's sessions stay bounded: 300
// initializes with one token, 8 at a time, each with a 16 KiB clientInfo.name, leave at
// most MaxPerSubject sessions in the SDK, the newest working and the oldest answered 404
// (MCP clients then start a new session); the heap does not grow by the ~4.8 MiB the
// payloads alone would take.
func TestRequireBearer_SessionsBoundedPerSubject(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const limit, opened = 16, 300
		st := newSessionStack(t, s, &sessions.Options{MaxPerSubject: limit})
		tok := tokens(t, st.as, "alice", "files", resource).AccessToken
		first := st.open(t, tok, "first")
		name := strings.Repeat("n", 16<<10)

		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		errs := make(chan error, opened)
		work := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range work {
					// The initialize alone, as a flood sends it (a follow-up could
					// find its session already evicted by the others in flight).
					status, sid, body, err := teststack.Post(st.url, tok, "", teststack.InitializeBody(fmt.Sprintf("%s-%d", name, i)))
					if err == nil && (status != http.StatusOK || sid == "") {
						err = fmt.Errorf("initialize %d: %d %q %.200s", i, status, sid, body)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		for i := range opened {
			work <- i
		}
		close(work)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if !teststack.Eventually(5*time.Second, func() bool { return st.live() <= limit }) {
			t.Fatalf("%d live go-sdk sessions after %d initializes, want ≤ %d", st.live(), opened+1, limit)
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
			t.Errorf("heap grew by %d bytes over %d sessions (unbounded, the payloads alone would be %d)", grew, opened, opened*len(name))
		}
		if status, body := st.call(t, tok, first); status != http.StatusNotFound || !strings.Contains(body, `"jsonrpc":"2.0"`) {
			t.Errorf("the evicted first session: %d %s", status, body)
		}
		last := st.open(t, tok, "last")
		if status, body := st.call(t, tok, last); status != http.StatusOK || !strings.Contains(body, "subject=alice") {
			t.Errorf("the newest session: %d %s", status, body)
		}
	})
}

// The total bound: sessions of several users together stay within MaxTotal, each user
// within MaxPerSubject; the least recently used session goes, so one that keeps being
// used survives.
func TestRequireBearer_SessionsBoundedInTotal(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		st := newSessionStack(t, s, &sessions.Options{MaxPerSubject: 3, MaxTotal: 5})
		alice := tokens(t, st.as, "alice", "files", resource).AccessToken
		kept := st.open(t, alice, "kept")
		for _, user := range []string{"bob", "carol", "dave"} {
			tok := tokens(t, st.as, user, "files", resource).AccessToken
			for i := range 4 {
				st.open(t, tok, fmt.Sprint(user, i))
				if status, _ := st.call(t, alice, kept); status != http.StatusOK {
					t.Fatalf("alice's session in use was evicted (%s %d): %d", user, i, status)
				}
			}
		}
		if !teststack.Eventually(5*time.Second, func() bool { return st.live() == 5 }) {
			t.Fatalf("%d live sessions, want 5", st.live())
		}
	})
}

// A revoked grant's session ends: after the refresh token is revoked (RFC 7009, which
// revokes the grant's access tokens too) the token gets 401, and within
// RevalidateInterval the go-sdk session itself is closed, so that even a new token of
// the same user finds it gone (404).
func TestRequireBearer_RevokedGrantClosesSession(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		st := newSessionStack(t, s, &sessions.Options{RevalidateInterval: 50 * time.Millisecond})
		revoked := tokens(t, st.as, "alice", "files", resource)
		other := tokens(t, st.as, "alice", "files", resource) // another grant, unrevoked
		sid := st.open(t, revoked.AccessToken, "doomed")
		keep := st.open(t, other.AccessToken, "kept")
		if err := st.as.Revoke("alice", revoked.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if status, _ := st.call(t, revoked.AccessToken, sid); status != http.StatusUnauthorized {
			t.Errorf("revoked token: %d", status)
		}
		if !teststack.Eventually(5*time.Second, func() bool { return st.live() == 1 }) {
			t.Fatalf("%d live sessions after the revocation, want 1", st.live())
		}
		fresh := tokens(t, st.as, "alice", "files", resource).AccessToken
		if status, _ := st.call(t, fresh, sid); status != http.StatusNotFound {
			t.Errorf("the revoked grant's session: %d, want 404", status)
		}
		if status, body := st.call(t, other.AccessToken, keep); status != http.StatusOK {
			t.Errorf("the other grant's session: %d %s", status, body)
		}
	})
}

// An idle session is closed after IdleTimeout; one in use is not.
func TestRequireBearer_IdleSessionClosed(t *testing.T) {
	st := newSessionStack(t, gormtest.Open(t, gormtest.SQLite), &sessions.Options{IdleTimeout: 300 * time.Millisecond})
	tok := tokens(t, st.as, "alice", "files", resource).AccessToken
	idle := st.open(t, tok, "idle")
	busy := st.open(t, tok, "busy")
	for range 8 {
		time.Sleep(100 * time.Millisecond)
		if status, _ := st.call(t, tok, busy); status != http.StatusOK {
			t.Fatalf("busy session: %d", status)
		}
	}
	if status, _ := st.call(t, tok, idle); status != http.StatusNotFound {
		t.Errorf("idle session: %d, want 404", status)
	}
	if n := st.live(); n != 1 {
		t.Errorf("%d live sessions, want 1", n)
	}
}

// Issue 14: 150 initializes with a 1 MiB clientInfo.name added 558 MB. A body over
// MaxBodyBytes gets 413 with a JSON-RPC error, with a Content-Length or chunked, and
// creates no session.
func TestRequireBearer_OversizedInitializeRefused(t *testing.T) {
	st := newSessionStack(t, gormtest.Open(t, gormtest.SQLite), &sessions.Options{MaxBodyBytes: 64 << 10})
	tok := tokens(t, st.as, "alice", "files", resource).AccessToken
	big := teststack.InitializeBody(strings.Repeat("n", 64<<10))
	status, sid, body, err := teststack.Post(st.url, tok, "", big)
	if err != nil || status != http.StatusRequestEntityTooLarge || sid != "" || !strings.Contains(body, `"code":-32600`) {
		t.Errorf("oversized initialize: %d %q %s %v", status, sid, body, err)
	}
	req, _ := http.NewRequest(http.MethodPost, st.url, struct{ *strings.Reader }{strings.NewReader(big)}) // no length: chunked
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
		t.Errorf("chunked oversized initialize: %d (length %d)", resp.StatusCode, req.ContentLength)
	}
	if n := st.live(); n != 0 {
		t.Errorf("%d sessions after oversized initializes", n)
	}
	if _, err := teststack.Open(st.url, tok, strings.Repeat("n", 32<<10)); err != nil {
		t.Errorf("initialize within the cap: %v", err)
	}
}

// The default cap (1 MiB) applies before the token is looked at: a 2 MiB body gets 413
// without being read, with or without a token.
func TestRequireBearer_OversizedBodyDefaultCap(t *testing.T) {
	st := newSessionStack(t, gormtest.Open(t, gormtest.SQLite), nil)
	status, _, _, err := teststack.Post(st.url, "", "", teststack.InitializeBody(strings.Repeat("n", 2<<20)))
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body without token: %d %v", status, err)
	}
}

// go-sdk's SSEHandler (HTTP+SSE transport, 2024-11-05) pins nothing to a user: any valid
// token could post into a session whose message URL it knew. Behind RequireBearer, bob's
// token on alice's session gets 403 and an unknown session 404; closing the session
// (MaxPerSubject, or its grant revoked while the stream is open) ends its stream.
func TestRequireBearer_SSESessionPinnedAndBounded(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		a := newAS(t, s, resource)
		server := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1"}, nil)
		protect, err := gosdk.RequireBearer(a.Provider, resourceserver.BearerOptions{Resource: resource},
			gosdk.WithSessions(teststack.SessionOptions(&sessions.Options{MaxPerSubject: 1, RevalidateInterval: 50 * time.Millisecond})))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(protect(sdk.NewSSEHandler(func(*http.Request) *sdk.Server { return server }, nil)))
		t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for them
		aliceTokens := tokens(t, a, "alice", "files", resource)
		alice := aliceTokens.AccessToken
		bob := tokens(t, a, "bob", "files", resource).AccessToken
		first, err := teststack.OpenSSE(t.Context(), srv.URL, alice)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(first.Close)
		init := teststack.InitializeBody("sse")
		if status, _, body, err := teststack.Post(first.Endpoint, bob, "", init); err != nil || status != http.StatusForbidden {
			t.Errorf("bob on alice's SSE session: %d %s %v", status, body, err)
		}
		if status, _, body, err := teststack.Post(srv.URL+"/?sessionid=UNKNOWN", bob, "", init); err != nil || status != http.StatusNotFound {
			t.Errorf("unknown SSE session: %d %s %v", status, body, err)
		}
		// A security review: a request naming bob's own session where the guard looked
		// (the header, or mcp-go's sessionId) and alice's where go-sdk reads (sessionid)
		// was checked against bob's and delivered to alice's (202).
		bobs, err := teststack.OpenSSE(t.Context(), srv.URL, bob)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bobs.Close)
		bobSession := bobs.SessionID()
		for name, post := range map[string]func() (int, string, string, error){
			"header": func() (int, string, string, error) { return teststack.Post(first.Endpoint, bob, bobSession, init) },
			"sessionId": func() (int, string, string, error) {
				return teststack.Post(first.Endpoint+"&sessionId="+url.QueryEscape(bobSession), bob, "", init)
			},
			"twice": func() (int, string, string, error) {
				return teststack.Post(srv.URL+"/?sessionid="+url.QueryEscape(bobSession)+"&sessionid="+url.QueryEscape(first.SessionID()), bob, "", init)
			},
		} {
			if status, _, body, err := post(); err != nil || status != http.StatusBadRequest {
				t.Errorf("bob's session named by %s, alice's by sessionid: %d %s %v, want 400", name, status, body, err)
			}
		}
		if status, _, body, err := teststack.Post(first.Endpoint, alice, "", init); err != nil || status != http.StatusAccepted {
			t.Errorf("alice on her SSE session: %d %s %v", status, body, err)
		}
		second, err := teststack.OpenSSE(t.Context(), srv.URL, alice)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(second.Close)
		select {
		case <-first.Ended:
		case <-time.After(5 * time.Second):
			t.Error("alice's first SSE stream still open beyond MaxPerSubject 1")
		}
		if err := a.Revoke("alice", aliceTokens.RefreshToken); err != nil {
			t.Fatal(err)
		}
		select {
		case <-second.Ended:
		case <-time.After(5 * time.Second):
			t.Error("the SSE stream of a revoked grant still open")
		}
	})
}

// Issue 14: each session keeps its initialize payload (150 initializes with a 1 MiB
// clientInfo.name added 558 MB; under the 1 MiB body cap 64 such sessions of one user
// still took ~300 MB). An initialize over MaxInitializeBytes gets 413 even within
// MaxBodyBytes; other messages of that size, on a session, are not limited by it.
func TestRequireBearer_OversizedInitializePayloadRefused(t *testing.T) {
	st := newSessionStack(t, gormtest.Open(t, gormtest.SQLite), &sessions.Options{MaxInitializeBytes: 16 << 10})
	tok := tokens(t, st.as, "alice", "files", resource).AccessToken
	status, sid, body, err := teststack.Post(st.url, tok, "", teststack.InitializeBody(strings.Repeat("n", 100<<10)))
	if err != nil || status != http.StatusRequestEntityTooLarge || sid != "" || !strings.Contains(body, "16384 bytes") {
		t.Errorf("100 KiB initialize: %d %q %s %v", status, sid, body, err)
	}
	if n := st.live(); n != 0 {
		t.Errorf("%d sessions after the oversized initialize", n)
	}
	sid = st.open(t, tok, "small")
	call := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":{"pad":"` + strings.Repeat("p", 100<<10) + `"}}}`
	if status, _, body, err := teststack.Post(st.url, tok, sid, call); err != nil || status != http.StatusOK || !strings.Contains(body, "subject=alice") {
		t.Errorf("100 KiB tools/call on a session: %d %.200s %v", status, body, err)
	}
}

// A storage outage is no verdict on a token: revalidation keeps the sessions (they would
// all be closed otherwise), and the sweep goes on after it.
func TestRequireBearer_StorageOutageKeepsSessions(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	st := newSessionStack(t, s, &sessions.Options{RevalidateInterval: 20 * time.Millisecond})
	tok := tokens(t, st.as, "alice", "files", resource).AccessToken
	st.open(t, tok, "kept")
	_ = s.Close()
	time.Sleep(200 * time.Millisecond) // several rounds against a closed database
	if n := st.live(); n != 1 {
		t.Errorf("%d sessions after a storage outage, want 1", n)
	}
}
