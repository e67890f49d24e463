package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// serveWithLimits serves the demo's handler with the demo's http.Server (newHTTPServer)
// and limits l on a loopback port, and returns its address.
func serveWithLimits(t *testing.T, demo *testDemo, l httpLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(demo.server.Handler(), slog.New(slog.DiscardHandler), l)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// dribble opens a connection to addr, sends head and then one byte of filler every
// interval until the server closes the connection or give passes, and returns how long
// the connection stayed open.
func dribble(t *testing.T, addr, head string, interval, give time.Duration) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn) // until the server closes
		close(closed)
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		return time.Since(start)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	timeout := time.After(give)
	for {
		select {
		case <-closed:
			return time.Since(start)
		case <-timeout:
			return time.Since(start)
		case <-tick.C:
			_, _ = conn.Write([]byte("a"))
		}
	}
}

// Issue 14 finding 4: a body dribbled at 1 byte per 5 s held connections on /token,
// /register, /consent and unauthenticated /mcp for 196 s and more (no ReadTimeout). Now
// the server cuts a dribbled body, and dribbled headers, within its ReadTimeout and
// ReadHeaderTimeout (1 s here; 30 s and 10 s in the demo), and refuses oversized
// headers with 431.
func TestHTTPServer_SlowRequestsCutOff(t *testing.T) {
	def := defaultHTTPLimits()
	if def.ReadHeaderTimeout <= 0 || def.ReadTimeout <= 0 || def.WriteTimeout <= 0 || def.IdleTimeout <= 0 || def.MaxHeaderBytes <= 0 {
		t.Fatalf("a default HTTP limit is off: %+v", def)
	}
	demo := startDemo(t, demoOptions{autoApprove: "alice"})
	const bound = time.Second
	addr := serveWithLimits(t, demo, httpLimits{ReadHeaderTimeout: bound, ReadTimeout: bound, WriteTimeout: 5 * bound, IdleTimeout: 5 * bound, MaxHeaderBytes: 8 << 10})
	cases := map[string]string{}
	for _, path := range []string{"/token", "/register", consentPath, mcpPath} {
		cases["body to "+path] = "POST " + path + " HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
	}
	cases["headers"] = "POST /token HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: "
	var wg sync.WaitGroup
	for name, head := range cases {
		wg.Go(func() {
			if held := dribble(t, addr, head, 100*time.Millisecond, 10*bound); held > bound+time.Second {
				t.Errorf("%s: connection held %v, want ≤ %v", name, held.Round(time.Millisecond), bound+time.Second)
			}
		})
	}
	wg.Wait()

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header: %d, want 431", resp.StatusCode)
	}
}

// demoToken returns an access token of alice (auto-approved) for the demo's MCP server.
func demoToken(t *testing.T, demo *testDemo) string {
	t.Helper()
	c := demo.register(t, "limits test", "http://127.0.0.1:45123/callback", nil)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(demo.authorizeURL(c, "state-1234", scopeTools))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, _ := demo.exchange(t, c, loc.Query().Get("code"))["access_token"].(string)
	return tok
}

// mcpRequest is a streamable HTTP request to the MCP endpoint at base with token and, when
// set, session sid.
func mcpRequest(ctx context.Context, method, base, token, sid, body string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, method, base+mcpPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	return req
}

// The server's ReadTimeout and WriteTimeout must not end a legitimate MCP stream: a GET
// stream opened on an MCP session stays open well past both (a read deadline passing
// would cancel its context, a write deadline fail its writes), and a notification the
// server sends after they passed (tools/list_changed) arrives on it.
func TestHTTPServer_MCPStreamOutlivesTimeouts(t *testing.T) {
	demo := startDemo(t, demoOptions{autoApprove: "alice"})
	const bound = 300 * time.Millisecond
	addr := serveWithLimits(t, demo, httpLimits{ReadHeaderTimeout: bound, ReadTimeout: bound, WriteTimeout: bound, IdleTimeout: 10 * bound, MaxHeaderBytes: 8 << 10})
	base := "http://" + addr
	tok := demoToken(t, demo)

	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"stream","version":"1"}}}`
	resp, err := http.DefaultClient.Do(mcpRequest(t.Context(), http.MethodPost, base, tok, "", init))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %q", resp.StatusCode, sid)
	}
	// POSTs are answered with a JSON body, not an SSE stream; the GET stream below is
	// still how the server sends what it starts.
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("initialize answered as %q, want application/json", ct)
	}
	resp, err = http.DefaultClient.Do(mcpRequest(t.Context(), http.MethodPost, base, tok, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp, err = http.DefaultClient.Do(mcpRequest(ctx, http.MethodGet, base, tok, sid, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: %d", resp.StatusCode)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	wait := time.After(4 * bound)
	for waiting := true; waiting; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before the server sent anything")
			}
			if !strings.HasPrefix(l, ":") && l != "" { // go-sdk opens with ": ok"
				t.Fatalf("the stream said %q before the server sent anything", l)
			}
		case <-wait:
			waiting = false
		}
	}
	sdk.AddTool(demo.server.mcpServer, &sdk.Tool{Name: "late"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{}, nil, nil
	})
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended without the notification")
			}
			if strings.Contains(l, "notifications/tools/list_changed") {
				return
			}
		case <-ctx.Done():
			t.Fatal(errors.Join(errors.New("no notification on the stream"), ctx.Err()))
		}
	}
}

// The demo's MCP endpoint caps bodies at 1 MiB: a larger initialize gets 413 with a
// JSON-RPC error (issue 14: 1 MiB clientInfo names were kept per session).
func TestDemoMCPBodyCap(t *testing.T) {
	demo := startDemo(t, demoOptions{db: gormtest.NewDatabase(t, gormtest.SQLite), autoApprove: "alice"})
	tok := demoToken(t, demo)
	big := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":%q,"version":"1"}}}`, strings.Repeat("n", 1<<20))
	resp, err := http.DefaultClient.Do(mcpRequest(t.Context(), http.MethodPost, demo.url, tok, "", big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Mcp-Session-Id") != "" || !strings.Contains(string(body), `"jsonrpc":"2.0"`) {
		t.Errorf("1 MiB clientInfo.name: %d %s", resp.StatusCode, body)
	}
}
