package teststack

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
)

// InitializeBody is an MCP initialize request (protocol 2025-06-18) from a client named
// clientName.
func InitializeBody(clientName string) string {
	name, _ := json.Marshal(clientName)
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":` +
		string(name) + `,"version":"1"}}}`
}

// Post sends one streamable HTTP POST to an MCP endpoint, as MCP clients do: the JSON-RPC
// body, token as bearer token (none when empty) and, when sessionID is set, the session
// and protocol version headers. It returns the status, the Mcp-Session-Id the server
// set and the body.
func Post(url, token, sessionID, body string) (status int, newSessionID, respBody string, err error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), string(b), err
}

// Open initializes an MCP session (initialize, then notifications/initialized) and
// returns its ID.
func Open(url, token, clientName string) (string, error) {
	status, sid, body, err := Post(url, token, "", InitializeBody(clientName))
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || sid == "" {
		return "", fmt.Errorf("teststack: initialize: %d, session %q: %.300s", status, sid, body)
	}
	if status, _, body, err = Post(url, token, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return "", err
	} else if status != http.StatusAccepted {
		return "", fmt.Errorf("teststack: notifications/initialized: %d %.300s", status, body)
	}
	return sid, nil
}

// Eventually polls cond every 10 ms until it holds or timeout passes, and reports whether
// it held.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SessionOptions returns a copy of o (nil: the defaults) that logs nowhere, for tests that
// close many sessions.
func SessionOptions(o *sessions.Options) *sessions.Options {
	var c sessions.Options
	if o != nil {
		c = *o
	}
	c.Logger = slog.New(slog.DiscardHandler)
	return &c
}

// CallTool calls tool (without arguments) on session sessionID with Post and returns the
// status and body.
func CallTool(url, token, sessionID, tool string) (status int, body string, err error) {
	name, _ := json.Marshal(tool)
	status, _, body, err = Post(url, token, sessionID, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":`+string(name)+`,"arguments":{}}}`)
	return status, body, err
}

// SSEStream is an open GET stream of the HTTP+SSE transport (MCP 2024-11-05).
type SSEStream struct {
	// Endpoint is the absolute message URL of the stream's endpoint event.
	Endpoint string
	// Ended is closed when the server ends the stream.
	Ended chan struct{}
	body  io.Closer
}

// Close closes the stream from the client's side.
func (s *SSEStream) Close() { s.body.Close() }

// SessionID is the session the stream's endpoint URL names: mcp-go's sessionId or
// go-sdk's sessionid parameter.
func (s *SSEStream) SessionID() string {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return ""
	}
	return cmp.Or(u.Query().Get("sessionId"), u.Query().Get("sessionid"))
}

// OpenSSE opens an HTTP+SSE stream at url with token and reads its endpoint event (mcp-go
// sends an absolute URL, go-sdk a relative one).
func OpenSSE(ctx context.Context, rawURL, token string) (*SSEStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	s := &SSEStream{Ended: make(chan struct{}), body: resp.Body}
	sc := bufio.NewScanner(resp.Body)
	for s.Endpoint == "" && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			ref, err := url.Parse(strings.TrimSpace(data))
			if err != nil {
				resp.Body.Close()
				return nil, err
			}
			s.Endpoint = req.URL.ResolveReference(ref).String()
		}
	}
	if s.Endpoint == "" {
		resp.Body.Close()
		return nil, fmt.Errorf("teststack: no endpoint event on the SSE stream (%d)", resp.StatusCode)
	}
	go func() {
		for sc.Scan() {
		}
		close(s.Ended)
	}()
	return s, nil
}
