package sessions_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

var refuseAll = resourceserver.AccessTokenVerifierFunc(func(context.Context, string) (*provider.AccessToken, error) {
	return nil, provider.ErrInvalidToken
})

func TestNew_RequiresVerifier(t *testing.T) {
	if _, err := sessions.New(nil, nil); err == nil {
		t.Error("a Guard without a verifier")
	}
}

// The Guard belongs behind the bearer middleware; mounted without it, it refuses every
// request (fail closed) with 401 and a JSON-RPC error instead of creating sessions no user
// owns.
func TestWrap_WithoutBearerRefused(t *testing.T) {
	g, err := sessions.New(refuseAll, nil)
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int64
	srv := httptest.NewServer(g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }), nil))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		JSONRPC string `json:"jsonrpc"`
		Error   struct{ Code int }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusUnauthorized || body.JSONRPC != "2.0" || body.Error.Code != -32600 || reached.Load() != 0 || g.Len() != 0 {
		t.Errorf("without bearer: %d %+v, handler reached %d times", resp.StatusCode, body, reached.Load())
	}
}

// LimitBody refuses a declared length over MaxBodyBytes with 413 before anything reads the
// body, and passes bodies within it.
func TestLimitBody_ContentLength(t *testing.T) {
	g, err := sessions.New(refuseAll, &sessions.Options{MaxBodyBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int64
	srv := httptest.NewServer(g.LimitBody(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) })))
	defer srv.Close()
	for body, want := range map[string]int{strings.Repeat("x", 16): http.StatusOK, strings.Repeat("x", 17): http.StatusRequestEntityTooLarge} {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%d bytes: %d, want %d", len(body), resp.StatusCode, want)
		}
	}
	if reached.Load() != 1 {
		t.Errorf("handler reached %d times, want 1", reached.Load())
	}
}
