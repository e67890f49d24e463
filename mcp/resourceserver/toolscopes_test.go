package resourceserver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// MCP step-up per tool: a tools/call of a tool that needs more scope gets 403
// insufficient_scope naming every scope the call needs; the handler still reads the
// whole body.
func TestToolScopes_StepUp(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	var verifier resourceserver.AccessTokenVerifier
	srv := httptest.NewUnstartedServer(nil)
	resource := "http://" + srv.Listener.Addr().String() + "/mcp"
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })
	srv.Config.Handler = resourceserver.MustRequireBearer(resourceserver.AccessTokenVerifierFunc(func(ctx context.Context, tok string) (*provider.AccessToken, error) {
		return verifier.VerifyAccessToken(ctx, tok)
	}), resourceserver.BearerOptions{
		Resource:        resource,
		Scopes:          []string{"files:read"},
		OperationScopes: resourceserver.ToolScopes(map[string][]string{"delete_file": {"files:write"}, "purge": {"admin", "files:write"}}),
	})(echo)
	srv.Start()
	defer srv.Close()
	a := newAS(t, s, []string{resource}, nil)
	verifier = a.Provider
	reader := a.tokens("files:read", resource).AccessToken
	writer := a.tokens("files:read files:write", resource).AccessToken

	call := func(token, body string) (int, string, map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		cs, _ := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
		if len(cs) == 1 {
			return resp.StatusCode, string(b), cs[0].Params
		}
		return resp.StatusCode, string(b), nil
	}
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"pad":"` +
		strings.Repeat("x", resourceserver.MaxToolScopesBody) + `"}}}`
	tests := []struct {
		name      string
		token     string
		body      string
		status    int
		wantScope string
	}{
		{"tool without extra scope", reader, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file"}}`, 200, ""},
		{"tools/list", reader, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 200, ""},
		{"tool needing files:write", reader, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file"}}`, 403, "files:read files:write"},
		{"tool needing files:write, granted", writer, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file"}}`, 200, ""},
		{"tool needing admin too", writer, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"purge"}}`, 403, "files:read admin files:write"},
		{"in a batch", reader, `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file"}}]`, 403, "files:read files:write"},
		{"case games", reader, `{"jsonrpc":"2.0","id":1,"Method":"tools/call","PARAMS":{"Name":"delete_file"}}`, 403, "files:read files:write"},
		{"unparsable body fails closed", reader, `{"method":"tools/call",`, 403, "files:read files:write admin"},
		{"oversized body fails closed", writer, big, 403, "files:read files:write admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, ch := call(tt.token, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %.200s", status, tt.status, body)
			}
			if status == 200 {
				if body != tt.body {
					t.Errorf("handler read %.200q, want the full body", body)
				}
				return
			}
			if ch["error"] != "insufficient_scope" || ch["scope"] != tt.wantScope {
				t.Errorf("challenge %v, want scope %q", ch, tt.wantScope)
			}
		})
	}
	// A request without a valid token is refused before its body is looked at: the 401
	// names the base scopes.
	if status, _, ch := call("bad", `{"method":"tools/call","params":{"name":"delete_file"}}`); status != 401 || ch["scope"] != "files:read" {
		t.Errorf("unauthenticated: %d %v", status, ch)
	}
}
