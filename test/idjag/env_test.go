package idjag_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
	"github.com/fosite-mcp/fosite-mcp/internal/syncbuf"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/idjag"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/test/internal/testidp"
)

// The MCP server's scopes: read is its default, write and admin on request.
const (
	scopeRead  = "read"
	scopeWrite = "write"
	scopeAdmin = "admin"
)

// env is teststack's full server (mcp.New) trusting two test IdPs (each with its JWKS on
// its own loopback server), in front of a go-sdk MCP server at resource and a second
// resource other, with a public and a confidential client.
type env struct {
	issuer, token      string
	resource, other    string
	idp, idp2          *testidp.IdP
	auth               *mcp.Server
	public             *provider.Client
	confidential       *provider.Client
	confidentialSecret string
	logs               *syncbuf.Buffer
	closeIdP           func() // stops idp's JWKS server
}

type envOptions struct {
	refresh bool // IdentityAssertionGrant.IssueRefreshTokens
	jwt     bool // RFC 9068 JWT access tokens (mcp.Config.JWTAccessTokens)
	// replicaOf, when set, makes this env another replica of that one: its IdPs, and its
	// store (passed to newEnv) and clients.
	replicaOf *env
}

func newEnv(t *testing.T, store *gormstore.Store, o envOptions) *env {
	t.Helper()
	e := &env{logs: &syncbuf.Buffer{}}
	if o.replicaOf != nil {
		e.idp, e.idp2, e.closeIdP = o.replicaOf.idp, o.replicaOf.idp2, o.replicaOf.closeIdP
	} else {
		var srv *httptest.Server
		e.idp, srv = testidp.Start(t)
		e.closeIdP = srv.Close
		e.idp2, _ = testidp.Start(t)
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	resources := []resourceserver.Resource{
		{URL: teststack.Origin + "/mcp", Name: "Tools", Scopes: []string{scopeRead, scopeWrite, scopeAdmin}, DefaultScopes: []string{scopeRead}},
		{URL: teststack.Origin + "/other", Name: "Other", Scopes: []string{scopeRead}, DefaultScopes: []string{scopeRead}},
	}
	issuer := ""
	if o.replicaOf != nil { // one issuer and one set of resources, served by another process
		issuer = o.replicaOf.issuer
		resources[0].URL, resources[1].URL = o.replicaOf.resource, o.replicaOf.other
	}
	opts := teststack.Options{
		Store:      store,
		Issuer:     issuer,
		RootIssuer: true,
		Resources:  resources,
		Provider: func(cfg *provider.Config) {
			v, err := idjag.New(idjag.Options{
				Audience: cfg.Issuer,
				IdPs: []idjag.TrustedIdP{
					{Issuer: e.idp.Issuer, JWKSURL: e.idp.Issuer + testidp.JWKSPath},
					{Issuer: e.idp2.Issuer, JWKSURL: e.idp2.Issuer + testidp.JWKSPath},
				},
				Logger:       logger,
				AllowAddress: netguard.AllowLoopback, // the test IdPs serve their keys on loopback
			})
			if err != nil {
				t.Fatal(err)
			}
			cfg.AutoApprove = func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "", false }
			cfg.IdentityAssertions = &provider.IdentityAssertionGrant{Validator: v, IssueRefreshTokens: o.refresh}
		},
		MCP:        func(_ *teststack.Stack, cfg *mcp.Config) { cfg.DefaultResource = cfg.Resources[0].URL },
		RateLimits: &mcp.RateLimits{Disabled: true},
		Logger:     logger,
	}
	if o.jwt {
		opts.JWTAccessTokens = &mcp.JWTAccessTokens{Enabled: true}
	}
	st := teststack.Start(t, opts)
	e.auth, e.issuer, e.token = st.Server, st.Issuer, st.Base+provider.TokenPath
	e.resource, e.other = st.MCPURL, st.OtherURL
	server := sdk.NewServer(&sdk.Implementation{Name: "idjag-test", Version: "1.0.0"}, nil)
	sdk.AddTool(server, &sdk.Tool{Name: "whoami", Description: "The caller's subject"},
		func(ctx context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			at, _ := gosdk.AccessToken(req.Extra.TokenInfo)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: at.Subject}}}, nil, nil
		})
	protect, err := gosdk.RequireBearer(e.auth, resourceserver.BearerOptions{Resource: e.resource, Scopes: []string{scopeRead}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	st.Mux.Handle("/mcp", protect(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)))

	if o.replicaOf != nil {
		e.public, e.confidential, e.confidentialSecret = o.replicaOf.public, o.replicaOf.confidential, o.replicaOf.confidentialSecret
		return e
	}
	p := e.auth.Provider()
	e.public, _, err = p.CreateClient(t.Context(), provider.ClientSpec{Name: "Public agent", Public: true,
		GrantTypes: []string{provider.GrantTypeJWTBearer}})
	if err != nil {
		t.Fatal(err)
	}
	e.confidential, e.confidentialSecret, err = p.CreateClient(t.Context(), provider.ClientSpec{Name: "Confidential agent",
		GrantTypes: []string{provider.GrantTypeJWTBearer, "refresh_token"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// grant is a valid ID-JAG's content for the public client and the main resource.
func (e *env) grant() testidp.Grant {
	return testidp.Grant{Audience: e.issuer, Subject: "alice", ClientID: e.public.ID, Resource: e.resource, Scope: "read write"}
}

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	status           int
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	Scope            string `json:"scope"`
	RefreshToken     string `json:"refresh_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	raw              string
}

// exchange posts the assertion with the JWT bearer grant (RFC 7523 §2.1) as the public
// client, plus extra form values.
func (e *env) exchange(t *testing.T, assertion string, extra url.Values) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {assertion}, "client_id": {e.public.ID}}
	for k, v := range extra {
		form[k] = v
	}
	return e.post(t, form, "", "")
}

func (e *env) post(t *testing.T, form url.Values, user, pass string) tokenResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.token, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := tokenResponse{status: resp.StatusCode, raw: string(body)}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("token endpoint answered %d %q: %v", resp.StatusCode, body, err)
	}
	return out
}

// bearer adds the access token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// callWhoami connects a go-sdk MCP client with the access token and calls whoami.
func (e *env) callWhoami(t *testing.T, token string) (string, error) {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "idjag-agent", Version: "1.0.0"}, nil)
	session, err := c.Connect(t.Context(), &sdk.StreamableClientTransport{
		Endpoint: e.resource, HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}}, MaxRetries: -1,
	}, nil)
	if err != nil {
		return "", err
	}
	defer session.Close()
	res, err := session.CallTool(t.Context(), &sdk.CallToolParams{Name: "whoami"})
	if err != nil {
		return "", err
	}
	return res.Content[0].(*sdk.TextContent).Text, nil
}
