package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgosdk "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/mcpgo"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// mountMCPGo protects an mcp-go MCP server (streamable HTTP) with mcpgo.RequireBearer at
// /mcp; its whoami and admin tools answer the identity mcpgo.AccessToken finds in their
// context.
func (s *stack) mountMCPGo(t testing.TB) {
	t.Helper()
	srv := server.NewMCPServer("e2e-mcp-go-server", "1.0.0")
	whoami := func(ctx context.Context, _ mcpgosdk.CallToolRequest) (*mcpgosdk.CallToolResult, error) {
		at, ok := mcpgo.AccessToken(ctx)
		if !ok {
			return mcpgosdk.NewToolResultError("no verified access token"), nil
		}
		b, err := json.Marshal(identityOf(at, at))
		if err != nil {
			return nil, err
		}
		return mcpgosdk.NewToolResultText(string(b)), nil
	}
	srv.AddTool(mcpgosdk.NewTool("whoami", mcpgosdk.WithDescription("The caller's identity")), whoami)
	srv.AddTool(mcpgosdk.NewTool("admin", mcpgosdk.WithDescription("The caller's identity, for admins")), whoami)
	protect, err := mcpgo.RequireBearer(s.Server, s.bearerOptions())
	if err != nil {
		t.Fatal(err)
	}
	s.ResourceMux.Handle("/mcp", protect(server.NewStreamableHTTPServer(srv)))
}

func initRequest() mcpgosdk.InitializeRequest {
	init := mcpgosdk.InitializeRequest{}
	init.Params.ProtocolVersion = mcpgosdk.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgosdk.Implementation{Name: "e2e-mcp-go-client", Version: "1.0.0"}
	return init
}

// callMCPGo calls tool and decodes its identity answer.
func callMCPGo(t testing.TB, c *client.Client, tool string) (identity, error) {
	t.Helper()
	call := mcpgosdk.CallToolRequest{}
	call.Params.Name = tool
	out, err := c.CallTool(t.Context(), call)
	if err != nil {
		return identity{}, err
	}
	if out.IsError || len(out.Content) != 1 {
		t.Fatalf("call %s: %+v", tool, out)
	}
	var id identity
	if err := json.Unmarshal([]byte(out.Content[0].(mcpgosdk.TextContent).Text), &id); err != nil {
		t.Fatal(err)
	}
	if !id.InContext || id.Context != nil {
		t.Fatalf("mcp-go tool context: %+v", id)
	}
	return id, nil
}

// loginMCPGo is the application's part of mcp-go's OAuth flow, given the error of a
// request that needs authorization: register if there is no client yet, send the user to
// the authorization URL (here: follow it, the server auto-approves), exchange the code.
func loginMCPGo(t testing.TB, s *stack, err error) *transport.OAuthHandler {
	t.Helper()
	if !client.IsOAuthAuthorizationRequiredError(err) {
		t.Fatalf("want OAuthAuthorizationRequiredError, got %v", err)
	}
	ctx := t.Context()
	h := client.GetOAuthHandler(err)
	if h.GetClientID() == "" {
		if err := h.RegisterClient(ctx, "e2e mcp-go client"); err != nil {
			t.Fatalf("registration: %v", err)
		}
	}
	verifier, err := client.GenerateCodeVerifier()
	if err != nil {
		t.Fatal(err)
	}
	state, err := client.GenerateState()
	if err != nil {
		t.Fatal(err)
	}
	authURL, err := h.GetAuthorizationURL(ctx, state, client.GenerateCodeChallenge(verifier))
	if err != nil {
		t.Fatal(err)
	}
	q, err := authorize(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("iss") != s.Issuer { // mcp-go ignores it
		t.Errorf("RFC 9207 iss = %q, want %q", q.Get("iss"), s.Issuer)
	}
	if err := h.ProcessAuthorizationResponse(ctx, q.Get("code"), q.Get("state"), verifier); err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return h
}

// The MCP authorization flow with mark3labs/mcp-go's OAuth client against an mcp-go
// server, with the authorization server on another origin under an issuer path:
// 401 → RFC 9728 metadata (same origin as the MCP endpoint) → RFC 8414 metadata (path
// insertion) → RFC 7591 registration (mcp-go sends resource in the body, and an empty
// scope) → authorization without scope (the resource's default scope is granted) →
// token → tool call → the access token expires (refused as invalid_token) → refresh
// with resource → tool call on the same grant → the grant is revoked → 401 with
// resource_metadata → new login → tool call.
func TestMCPGo_LoginAndRefresh(t *testing.T) {
	t.Parallel()
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Parallel()
		const lifespan = 4 * time.Second
		s := newStack(t, store, stackConfig{issuerPath: "/oauth", separateHosts: true,
			edit: func(c *provider.Config) { c.AccessTokenLifespan = lifespan }})
		s.mountMCPGo(t)
		ctx := t.Context()
		tokens := client.NewMemoryTokenStore()
		c, err := client.NewOAuthStreamableHttpClient(s.MCPURL, client.OAuthConfig{
			RedirectURI: redirectURI, PKCEEnabled: true, TokenStore: tokens,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}

		// mcp-go sends nothing without a token: the first initialize fails at once with
		// OAuthAuthorizationRequiredError, and discovery starts at the well-known URL of
		// the MCP endpoint.
		_, err = c.Initialize(ctx, initRequest())
		h := loginMCPGo(t, s, err)
		if _, err := c.Initialize(ctx, initRequest()); err != nil {
			t.Fatalf("initialize: %v", err)
		}
		first, err := callMCPGo(t, c, "whoami")
		if err != nil {
			t.Fatal(err)
		}
		first.check(t, s.MCPURL, scopeTools)
		if first.ClientID != h.GetClientID() {
			t.Errorf("client %s, registered %s", first.ClientID, h.GetClientID())
		}

		s.Recorder.ExpectSequence(t,
			teststack.Step{Method: http.MethodGet, Suffix: "/.well-known/oauth-protected-resource/mcp", Status: http.StatusOK},
			teststack.Step{Method: http.MethodGet, Suffix: "/.well-known/oauth-authorization-server/oauth", Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: "/oauth/register", Status: http.StatusCreated},
			teststack.Step{Method: http.MethodGet, Suffix: "/oauth/authorize", Status: teststack.AnyRedirect},
			teststack.Step{Method: http.MethodPost, Suffix: "/oauth/token", Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: "/mcp", Status: http.StatusOK},
		)
		reg := s.Recorder.At("/register", "")
		if len(reg) != 1 || reg[0].JSON["resource"] != s.MCPURL {
			t.Errorf("registration %v (mcp-go sends resource, an unknown member to ignore)", reg)
		}
		authz := s.Recorder.At("/authorize", "")[0].Params
		if authz.Has("scope") || authz.Get("resource") != s.MCPURL || authz.Get("code_challenge_method") != "S256" {
			t.Errorf("authorization request %v", authz)
		}
		if exchange := s.Recorder.At("/token", "authorization_code"); len(exchange) != 1 || exchange[0].Params.Get("resource") != s.MCPURL {
			t.Errorf("code exchange %v", exchange)
		}

		// mcp-go has no step-up: the 403 insufficient_scope ends the call.
		if _, err := callMCPGo(t, c, "admin"); err == nil {
			t.Error("admin without the admin scope succeeded")
		}

		// The access token expires; the server refuses it, the client refreshes.
		tok, err := tokens.GetToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		old := tok.AccessToken
		// The client refreshes at its expiry (now + expires_in, which fosite rounds down),
		// the server refuses the token from its own expiry on: wait for the later one.
		at, err := s.Server.VerifyAccessToken(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		expiry := at.ExpiresAt
		if tok.ExpiresAt.After(expiry) {
			expiry = tok.ExpiresAt
		}
		time.Sleep(time.Until(expiry) + 300*time.Millisecond)
		if resp, body := bearerCall(t, s.MCPURL, old, "whoami"); resp.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("expired token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		second, err := callMCPGo(t, c, "whoami")
		if err != nil {
			t.Fatalf("call after expiry: %v", err)
		}
		second.check(t, s.MCPURL, scopeTools)
		refreshes := s.Recorder.At("/token", "refresh_token")
		if len(refreshes) != 1 || refreshes[0].Status != http.StatusOK || refreshes[0].Params.Get("resource") != s.MCPURL {
			t.Fatalf("refresh requests %v", refreshes)
		}
		if second.GrantID != first.GrantID || !second.ExpiresAt.After(first.ExpiresAt) || len(s.Recorder.At("/authorize", "")) != 1 {
			t.Errorf("refresh: grant %s → %s, expiry %v → %v", first.GrantID, second.GrantID, first.ExpiresAt, second.ExpiresAt)
		}
		tok, err = tokens.GetToken(ctx)
		if err != nil || tok.AccessToken == old {
			t.Fatalf("the token store still holds the expired token (%v)", err)
		}

		// RFC 7009: revoking the refresh token ends the grant and its access tokens. The
		// server answers 401 with resource_metadata, which mcp-go now follows (exact
		// resource match) to log in again, with the client it registered.
		resp, err := http.PostForm(s.Server.Provider().Metadata().RevocationEndpoint,
			url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {h.GetClientID()}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revocation: %d", resp.StatusCode)
		}
		_, err = callMCPGo(t, c, "whoami")
		if again := loginMCPGo(t, s, err); again != h {
			t.Fatal("another OAuth handler")
		}
		third, err := callMCPGo(t, c, "whoami")
		if err != nil {
			t.Fatalf("call after the new login: %v", err)
		}
		third.check(t, s.MCPURL, scopeTools)
		if third.GrantID == first.GrantID || third.ClientID != first.ClientID || len(s.Recorder.At("/register", "")) != 1 {
			t.Errorf("new login: grant %s (was %s), client %s (was %s)", third.GrantID, first.GrantID, third.ClientID, first.ClientID)
		}
		s.Recorder.ExpectSequence(t,
			teststack.Step{Method: http.MethodPost, Suffix: "/oauth/revoke", Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: "/mcp", Status: http.StatusUnauthorized},
			teststack.Step{Method: http.MethodGet, Suffix: "/.well-known/oauth-protected-resource/mcp", Status: http.StatusOK},
			teststack.Step{Method: http.MethodGet, Suffix: "/oauth/authorize", Status: teststack.AnyRedirect},
			teststack.Step{Method: http.MethodPost, Suffix: "/oauth/token", Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: "/mcp", Status: http.StatusOK},
		)
	})
}
