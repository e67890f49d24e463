package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// goSDKServer is a go-sdk MCP server with two tools that answer the caller's identity:
// whoami (needs the resource's scope) and admin (also needs scopeAdmin).
func goSDKServer() *sdk.Server {
	server := sdk.NewServer(&sdk.Implementation{Name: "e2e-go-sdk-server", Version: "1.0.0"}, nil)
	whoami := func(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
		fromContext, _ := resourceserver.TokenFromContext(ctx)
		at, ok := gosdk.AccessToken(req.Extra.TokenInfo)
		if !ok {
			return nil, nil, errors.New("no verified access token")
		}
		b, err := json.Marshal(identityOf(at, fromContext))
		if err != nil {
			return nil, nil, err
		}
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}}, nil, nil
	}
	sdk.AddTool(server, &sdk.Tool{Name: "whoami", Description: "The caller's identity"}, whoami)
	sdk.AddTool(server, &sdk.Tool{Name: "admin", Description: "The caller's identity, for admins"}, whoami)
	return server
}

// mountGoSDK protects go-sdk MCP servers with gosdk.RequireBearer at /mcp (s.MCPURL,
// per-tool scopes) and, when the stack has it, /other (s.OtherURL).
func (s *stack) mountGoSDK(t testing.TB) {
	t.Helper()
	server := goSDKServer()
	handler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)
	protect, err := gosdk.RequireBearer(s.Server, s.bearerOptions())
	if err != nil {
		t.Fatal(err)
	}
	s.ResourceMux.Handle("/mcp", protect(handler))
	if s.OtherURL == "" {
		return
	}
	protectOther, err := gosdk.RequireBearer(s.Server, resourceserver.BearerOptions{Resource: s.OtherURL, Scopes: []string{scopeTools}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	other := goSDKServer()
	s.ResourceMux.Handle("/other", protectOther(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return other }, nil)))
}

// fetchCode is the go-sdk AuthorizationCodeFetcher of the tests: instead of opening a
// browser and waiting on the redirect URI, it follows the authorization URL itself (the
// server auto-approves) and reads code, state and iss from the redirect.
func fetchCode(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	q, err := authorize(ctx, args.URL)
	if err != nil {
		return nil, err
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// dcrConfig is the go-sdk handler configuration of a public native client that
// registers itself (RFC 7591) and asks for no particular scope.
func dcrConfig() *auth.AuthorizationCodeHandlerConfig {
	return &auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "e2e go-sdk client",
				RedirectURIs:            []string{redirectURI},
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
			},
		},
	}
}

// goSDKClient is a connected go-sdk client session.
type goSDKClient struct {
	session *sdk.ClientSession
	sniff   *sniffer
}

// connectGoSDK connects a go-sdk client with an auth.AuthorizationCodeHandler built from
// cfg (AuthorizationCodeFetcher set to fetchCode) to s.MCPURL. Connect triggers the
// whole login: the initialize request gets 401.
func connectGoSDK(t testing.TB, s *stack, cfg *auth.AuthorizationCodeHandlerConfig) *goSDKClient {
	t.Helper()
	cfg.AuthorizationCodeFetcher = fetchCode
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sn := &sniffer{}
	client := sdk.NewClient(&sdk.Implementation{Name: "e2e-go-sdk-client", Version: "1.0.0"}, nil)
	session, err := client.Connect(t.Context(), &sdk.StreamableClientTransport{
		Endpoint:     s.MCPURL,
		OAuthHandler: h,
		HTTPClient:   &http.Client{Transport: sn},
		MaxRetries:   -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = session.Close() })
	return &goSDKClient{session: session, sniff: sn}
}

// call calls tool and decodes its identity answer.
func (c *goSDKClient) call(t testing.TB, tool string) identity {
	t.Helper()
	res, err := c.session.CallTool(t.Context(), &sdk.CallToolParams{Name: tool})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("call %s: %+v", tool, res)
	}
	var id identity
	if err := json.Unmarshal([]byte(res.Content[0].(*sdk.TextContent).Text), &id); err != nil {
		t.Fatal(err)
	}
	// go-sdk gives tool handlers the context of the session's first request; behind
	// gosdk.RequireBearer, resourceserver.TokenFromContext must find no (stale) token there.
	if id.InContext {
		t.Fatalf("TokenFromContext found a token in a go-sdk tool handler: %+v", id)
	}
	return id
}

// sniffer is the MCP transport's HTTP transport; it remembers the last access token the
// client sent, so that a test can revoke it or replay it.
type sniffer struct {
	mu    sync.Mutex
	token string
}

func (s *sniffer) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		s.mu.Lock()
		s.token = tok
		s.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (s *sniffer) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// The MCP authorization flow with the go-sdk client (auth.AuthorizationCodeHandler) and
// dynamic client registration: 401 → RFC 9728 metadata → RFC 8414 metadata → RFC 7591
// registration → authorization (PKCE S256, RFC 8707 resource, RFC 9207 iss) → token →
// tools/list → tools/call, the token bound to the MCP endpoint.
func TestGoSDK_DynamicClientRegistration(t *testing.T) {
	t.Parallel()
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Parallel()
		s := newStack(t, store, stackConfig{})
		s.mountGoSDK(t)
		c := connectGoSDK(t, s, dcrConfig())

		tools, err := c.session.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range tools.Tools {
			names = append(names, tool.Name)
		}
		if !sameSet(names, []string{"whoami", "admin"}) {
			t.Fatalf("tools %v", names)
		}
		id := c.call(t, "whoami")
		id.check(t, s.MCPURL, scopeTools)

		s.Recorder.ExpectSequence(t,
			teststack.Step{Method: http.MethodPost, Suffix: "/mcp", Status: http.StatusUnauthorized},
			teststack.Step{Method: http.MethodGet, Suffix: "/.well-known/oauth-protected-resource/mcp", Status: http.StatusOK},
			teststack.Step{Method: http.MethodGet, Suffix: "/.well-known/oauth-authorization-server", Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: "/register", Status: http.StatusCreated},
			teststack.Step{Method: http.MethodGet, Suffix: "/authorize", Status: teststack.AnyRedirect},
			teststack.Step{Method: http.MethodPost, Suffix: "/token", Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: "/mcp", Status: http.StatusOK},
		)
		reg := s.Recorder.At("/register", "")
		if len(reg) != 1 || reg[0].JSON["application_type"] != "native" {
			t.Errorf("registration requests %v (go-sdk sends application_type native for loopback redirect URIs)", reg)
		}
		authz := s.Recorder.At("/authorize", "")[0].Params
		if authz.Get("resource") != s.MCPURL || authz.Get("code_challenge_method") != "S256" || authz.Get("scope") != scopeTools ||
			authz.Get("client_id") != id.ClientID {
			t.Errorf("authorization request %v", authz)
		}
		exchange := s.Recorder.At("/token", "authorization_code")
		if len(exchange) != 1 || exchange[0].Params.Get("resource") != s.MCPURL || exchange[0].Params.Get("client_id") != id.ClientID {
			t.Errorf("code exchange %v", exchange)
		}
		// The token is bound to this MCP endpoint only (RFC 8707): the other endpoint of
		// the same authorization server refuses it.
		if resp, body := bearerCall(t, s.OtherURL, c.sniff.last(), "whoami"); resp.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("token at the other resource: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	})
}

// The go-sdk client with a pre-registered confidential client (provider.CreateClient):
// no registration request, client_secret_post at the token endpoint. Revoking the access
// token (RFC 7009) makes the next call 401 invalid_token, and the client logs in again by
// itself.
func TestGoSDK_PreregisteredClient(t *testing.T) {
	t.Parallel()
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Parallel()
		s := newStack(t, store, stackConfig{})
		s.mountGoSDK(t)
		// go-sdk picks client_secret_post whenever the metadata lists it, and cannot be
		// told otherwise; fosite holds a client to its registered method.
		client, secret, err := s.Server.Provider().CreateClient(t.Context(), provider.ClientSpec{
			Name: "e2e pre-registered", RedirectURIs: []string{redirectURI},
			TokenEndpointAuthMethod: provider.AuthMethodClientSecretPost,
		})
		if err != nil {
			t.Fatal(err)
		}
		c := connectGoSDK(t, s, &auth.AuthorizationCodeHandlerConfig{
			RedirectURL: redirectURI,
			PreregisteredClient: &oauthex.ClientCredentials{
				ClientID: client.ID, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: secret}, Issuer: s.Issuer,
			},
		})
		first := c.call(t, "whoami")
		first.check(t, s.MCPURL, scopeTools)
		if first.ClientID != client.ID {
			t.Fatalf("client %s, want %s", first.ClientID, client.ID)
		}
		if reg := s.Recorder.At("/register", ""); len(reg) != 0 {
			t.Errorf("a pre-registered client registered: %v", reg)
		}
		exchange := s.Recorder.At("/token", "authorization_code")
		if len(exchange) != 1 || exchange[0].Basic || !exchange[0].Params.Has("client_secret") {
			t.Errorf("code exchange %v (want client_secret_post)", exchange)
		}

		// RFC 7009: the client's access token is revoked behind its back.
		old := c.sniff.last()
		resp, err := http.PostForm(s.Server.Provider().Metadata().RevocationEndpoint,
			url.Values{"token": {old}, "client_id": {client.ID}, "client_secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revocation: %d", resp.StatusCode)
		}
		if resp, body := bearerCall(t, s.MCPURL, old, "whoami"); resp.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("revoked token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		second := c.call(t, "whoami")
		second.check(t, s.MCPURL, scopeTools)
		if second.GrantID == first.GrantID || len(s.Recorder.At("/authorize", "")) != 2 || c.sniff.last() == old {
			t.Errorf("after revocation: grant %s (was %s), %d authorizations", second.GrantID, first.GrantID, len(s.Recorder.At("/authorize", "")))
		}
	})
}

// go-sdk refreshes through golang.org/x/oauth2, which treats a token as expired 10 s
// before it is, and sends no resource parameter on refresh: the refreshed token must keep
// the grant's audience (RFC 8707 §2.2, MCP) or the next call fails.
func TestGoSDK_RefreshWithoutResourceKeepsAudience(t *testing.T) {
	t.Parallel()
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Parallel()
		const lifespan = 12 * time.Second // x/oauth2 refreshes from 2 s after issue
		s := newStack(t, store, stackConfig{edit: func(c *provider.Config) { c.AccessTokenLifespan = lifespan }})
		s.mountGoSDK(t)
		c := connectGoSDK(t, s, dcrConfig())
		first := c.call(t, "whoami")
		first.check(t, s.MCPURL, scopeTools)

		time.Sleep(lifespan - 10*time.Second + 500*time.Millisecond)
		second := c.call(t, "whoami")
		second.check(t, s.MCPURL, scopeTools)

		refreshes := s.Recorder.At("/token", "refresh_token")
		if len(refreshes) == 0 {
			t.Fatal("the client did not refresh")
		}
		for _, r := range refreshes {
			if r.Status != http.StatusOK {
				t.Errorf("refresh: %v", r)
			}
			if r.Params.Has("resource") {
				t.Logf("go-sdk now sends resource on refresh: %v", r.Params["resource"])
			}
		}
		if second.GrantID != first.GrantID || !second.ExpiresAt.After(first.ExpiresAt) || len(s.Recorder.At("/authorize", "")) != 1 {
			t.Errorf("refresh: grant %s → %s, expiry %v → %v, %d authorizations",
				first.GrantID, second.GrantID, first.ExpiresAt, second.ExpiresAt, len(s.Recorder.At("/authorize", "")))
		}
	})
}

// Without the compat.RefreshWithoutResource shim, go-sdk's first refresh is refused with
// invalid_target (MCP requires resource on every token request) and the client's next
// call fails: the shim is what keeps go-sdk sessions alive past the first access token.
// (Under all of compat.Strict go-sdk gets no refresh token at all: it does not ask for
// offline_access.)
func TestGoSDK_RefreshFailsWithoutRefreshWithoutResource(t *testing.T) {
	t.Parallel()
	store := gormtest.Open(t, gormtest.SQLite)
	const lifespan = 12 * time.Second
	shims := compat.Default()
	shims.RefreshWithoutResource = false
	s := newStack(t, store, stackConfig{compat: &shims, edit: func(c *provider.Config) { c.AccessTokenLifespan = lifespan }})
	s.mountGoSDK(t)
	c := connectGoSDK(t, s, dcrConfig())
	c.call(t, "whoami").check(t, s.MCPURL, scopeTools)

	time.Sleep(lifespan - 10*time.Second + 500*time.Millisecond)
	_, err := c.session.CallTool(t.Context(), &sdk.CallToolParams{Name: "whoami"})
	refreshes := s.Recorder.At("/token", "refresh_token")
	if err == nil || !strings.Contains(err.Error(), "invalid_target") || len(refreshes) == 0 ||
		refreshes[0].Params.Has("resource") || refreshes[0].Status != http.StatusBadRequest {
		t.Fatalf("call after the access token's expiry: %v; refreshes %v", err, refreshes)
	}
}

// MCP step-up authorization: the admin tool needs a scope the token lacks → 403
// error="insufficient_scope" naming every scope the call needs → the go-sdk client
// authorizes again with the union of granted and challenged scopes → the retried call
// succeeds, and earlier permissions are kept.
func TestGoSDK_StepUpOnInsufficientScope(t *testing.T) {
	t.Parallel()
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		t.Parallel()
		s := newStack(t, store, stackConfig{})
		s.mountGoSDK(t)
		c := connectGoSDK(t, s, dcrConfig())
		c.call(t, "whoami").check(t, s.MCPURL, scopeTools)

		admin := c.call(t, "admin")
		admin.check(t, s.MCPURL, scopeTools, scopeAdmin)

		var challenged []teststack.Event
		for _, e := range s.Recorder.At("/mcp", "") {
			if e.Status == http.StatusForbidden {
				challenged = append(challenged, e)
			}
		}
		if len(challenged) != 1 || !strings.Contains(challenged[0].Challenge, `error="insufficient_scope"`) ||
			!strings.Contains(challenged[0].Challenge, `scope="tools admin"`) {
			t.Fatalf("step-up challenges %v", challenged)
		}
		authz := s.Recorder.At("/authorize", "")
		if len(authz) != 2 || !sameSet(strings.Fields(authz[1].Params.Get("scope")), []string{scopeTools, scopeAdmin}) ||
			authz[1].Params.Get("resource") != s.MCPURL {
			t.Fatalf("authorization requests %v", authz)
		}
		s.Recorder.ExpectSequence(t,
			teststack.Step{Method: http.MethodPost, Suffix: "/mcp", Status: http.StatusForbidden},
			teststack.Step{Method: http.MethodGet, Suffix: "/authorize", Status: teststack.AnyRedirect},
			teststack.Step{Method: http.MethodPost, Suffix: "/token", Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: "/mcp", Status: http.StatusOK},
		)
		c.call(t, "whoami").check(t, s.MCPURL, scopeTools, scopeAdmin)
		t.Logf("go-sdk registrations during the step-up: %d", len(s.Recorder.At("/register", "")))
		if slices.ContainsFunc(s.Recorder.All(), func(e teststack.Event) bool { return e.Status >= 500 }) {
			t.Errorf("a server error: %v", s.Recorder.All())
		}
	})
}

// Known interoperability gap, pinned: go-sdk's pre-registered client authenticates with
// client_secret_post whenever the metadata lists it (its AuthorizationCodeHandlerConfig
// has no way to choose), while provider.CreateClient's default for confidential clients
// is client_secret_basic (what the TypeScript SDK prefers) and fosite holds a client to
// its registered method. Such a client cannot log in with go-sdk: the code exchange fails
// with invalid_client. Register go-sdk's static clients with client_secret_post (as
// TestGoSDK_PreregisteredClient does). If the provider learns to accept either secret
// method, turn this test around.
func TestGoSDK_PreregisteredBasicClientIsRefused(t *testing.T) {
	t.Parallel()
	store := gormtest.Open(t, gormtest.SQLite)
	s := newStack(t, store, stackConfig{})
	s.mountGoSDK(t)
	client, secret, err := s.Server.Provider().CreateClient(t.Context(), provider.ClientSpec{
		Name: "e2e basic", RedirectURIs: []string{redirectURI},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		RedirectURL:              redirectURI,
		AuthorizationCodeFetcher: fetchCode,
		PreregisteredClient:      &oauthex.ClientCredentials{ClientID: client.ID, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: secret}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := sdk.NewClient(&sdk.Implementation{Name: "e2e-go-sdk-client", Version: "1.0.0"}, nil)
	session, err := c.Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: s.MCPURL, OAuthHandler: h, MaxRetries: -1}, nil)
	if err == nil {
		_ = session.Close()
		t.Fatal("go-sdk logged in with a client_secret_basic client: the gap is closed, update this test and the report")
	}
	exchange := s.Recorder.At("/token", "authorization_code")
	if !strings.Contains(err.Error(), "invalid_client") || len(exchange) == 0 || slices.ContainsFunc(exchange, func(e teststack.Event) bool {
		return e.Basic || !e.Params.Has("client_secret") || e.Status != http.StatusUnauthorized
	}) {
		t.Fatalf("connect: %v; code exchange %v", err, exchange)
	}
}
