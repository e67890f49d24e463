package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/internal/mcptest"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Regression: a go-sdk server behind the README's setup. Another user's valid token with
// someone else's Mcp-Session-Id must not reach the session (go-sdk pins a session to the
// user only when it receives auth.TokenInfo, which gosdk.Protect supplies), and tools
// see the caller through req.Extra.TokenInfo.
func TestGoSDKProtect_SessionPinnedToUser(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		s := newStack(t, store, stackConfig{oneResource: true, edit: func(c *provider.Config) {
			c.AutoApprove = func(_ context.Context, r *provider.AuthorizationRequest) (string, bool) {
				return r.Client.Name, true // the client's name is the user
			}
		}})
		server := sdk.NewServer(&sdk.Implementation{Name: "x", Version: "1"}, nil)
		sdk.AddTool(server, &sdk.Tool{Name: "whoami"}, func(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			at, ok := gosdk.AccessToken(req.Extra.TokenInfo)
			if !ok {
				return nil, nil, errors.New("no token")
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "subject=" + at.Subject}}}, nil, nil
		})
		protect, err := gosdk.Protect(s.auth, mcp.BearerOptions{Resource: s.resource})
		if err != nil {
			t.Fatal(err)
		}
		s.rs.Handle("/mcp", protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
		login := func(user string) string {
			c, _, err := s.auth.Provider().CreateClient(t.Context(), provider.ClientSpec{Name: user, RedirectURIs: []string{redirectURI}, Public: true})
			if err != nil {
				t.Fatal(err)
			}
			rc := &rawClient{s: s, id: c.ID}
			q, v, err := rc.authorize(t, s.resource)
			if err != nil {
				t.Fatal(err)
			}
			_, tok := rc.exchange(t, q.Get("code"), v, s.resource)
			return tok.AccessToken
		}
		alice, bob := login("alice"), login("bob")
		sid, err := mcptest.Open(s.resource, alice, "raw")
		if err != nil {
			t.Fatal(err)
		}
		if status, body, err := mcptest.CallTool(s.resource, bob, sid, "whoami"); err != nil || status == http.StatusOK || strings.Contains(body, "subject=") {
			t.Fatalf("bob on alice's session: %d %s %v", status, body, err)
		}
		if status, body, err := mcptest.CallTool(s.resource, alice, sid, "whoami"); err != nil || status != http.StatusOK || !strings.Contains(body, "subject=alice") {
			t.Fatalf("alice on her session: %d %s %v", status, body, err)
		}
	})
}
