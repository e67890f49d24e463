package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
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
		protect, err := gosdk.Protect(s.Server, resourceserver.BearerOptions{Resource: s.MCPURL})
		if err != nil {
			t.Fatal(err)
		}
		s.ResourceMux.Handle("/mcp", protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
		login := func(user string) string {
			c, _, err := s.Server.Provider().CreateClient(t.Context(), provider.ClientSpec{Name: user, RedirectURIs: []string{redirectURI}, Public: true})
			if err != nil {
				t.Fatal(err)
			}
			rc := &rawClient{s: s, id: c.ID}
			q, v, err := rc.authorize(t, s.MCPURL)
			if err != nil {
				t.Fatal(err)
			}
			_, tok := rc.exchange(t, q.Get("code"), v, s.MCPURL)
			return tok.AccessToken
		}
		alice, bob := login("alice"), login("bob")
		sid, err := teststack.Open(s.MCPURL, alice, "raw")
		if err != nil {
			t.Fatal(err)
		}
		if status, body, err := teststack.CallTool(s.MCPURL, bob, sid, "whoami"); err != nil || status == http.StatusOK || strings.Contains(body, "subject=") {
			t.Fatalf("bob on alice's session: %d %s %v", status, body, err)
		}
		if status, body, err := teststack.CallTool(s.MCPURL, alice, sid, "whoami"); err != nil || status != http.StatusOK || !strings.Contains(body, "subject=alice") {
			t.Fatalf("alice on her session: %d %s %v", status, body, err)
		}
	})
}

// The revocation bound of go-sdk sessions with JWT access tokens. Verified locally, a
// revoked grant's JWT keeps working until it expires (the documented trade-off): its
// session survives revalidation rounds, and ends through the idle timeout once the token
// has expired and cannot be refreshed. With CheckRevocation the bearer middleware and the
// session guard verify against storage, and the session is closed within
// RevalidateInterval.
func TestGoSDKProtect_JWTRevocationBound(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		for _, tc := range []struct {
			name            string
			checkRevocation bool
		}{{"local verification", false}, {"CheckRevocation", true}} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStack(t, store, stackConfig{oneResource: true, jwt: &mcp.JWTAccessTokens{Enabled: true, CheckRevocation: tc.checkRevocation},
					edit: func(c *provider.Config) { c.AccessTokenLifespan = 5 * time.Second }})
				server := sdk.NewServer(&sdk.Implementation{Name: "x", Version: "1"}, nil)
				sdk.AddTool(server, &sdk.Tool{Name: "whoami"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
					return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "ok"}}}, nil, nil
				})
				idle := time.Hour
				if !tc.checkRevocation {
					idle = time.Second
				}
				protect, err := gosdk.Protect(s.Server, resourceserver.BearerOptions{Resource: s.MCPURL}, gosdk.WithSessions(
					teststack.SessionOptions(&sessions.Options{RevalidateInterval: 50 * time.Millisecond, IdleTimeout: idle})))
				if err != nil {
					t.Fatal(err)
				}
				s.ResourceMux.Handle("/mcp", protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))
				live := func() int {
					n := 0
					for range server.Sessions() {
						n++
					}
					return n
				}
				rc := newRawClient(t, s)
				q, v, err := rc.authorize(t, s.MCPURL)
				if err != nil {
					t.Fatal(err)
				}
				_, tok := rc.exchange(t, q.Get("code"), v, s.MCPURL)
				sid, err := teststack.Open(s.MCPURL, tok.AccessToken, "jwt")
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.PostForm(s.Server.Provider().Metadata().RevocationEndpoint, url.Values{"token": {tok.RefreshToken}, "client_id": {rc.id}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("revocation: %d", resp.StatusCode)
				}
				if tc.checkRevocation {
					if status, _, _ := teststack.CallTool(s.MCPURL, tok.AccessToken, sid, "whoami"); status != http.StatusUnauthorized {
						t.Errorf("revoked JWT with CheckRevocation: %d", status)
					}
					if !teststack.Eventually(5*time.Second, func() bool { return live() == 0 }) {
						t.Errorf("%d sessions left after the revocation", live())
					}
					return
				}
				time.Sleep(300 * time.Millisecond) // several revalidation rounds
				if status, body, _ := teststack.CallTool(s.MCPURL, tok.AccessToken, sid, "whoami"); status != http.StatusOK || live() != 1 {
					t.Errorf("locally verified JWT before exp: %d %s, %d sessions", status, body, live())
				}
				if !teststack.Eventually(10*time.Second, func() bool { return live() == 0 }) {
					t.Errorf("%d sessions left after exp and the idle timeout", live())
				}
				if !teststack.Eventually(10*time.Second, func() bool {
					status, _, _ := teststack.CallTool(s.MCPURL, tok.AccessToken, sid, "whoami")
					return status == http.StatusUnauthorized
				}) {
					t.Error("the revoked grant's JWT still accepted after exp")
				}
			})
		}
	})
}
