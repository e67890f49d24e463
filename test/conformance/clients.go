package conformance

import (
	"context"
	"errors"
	"fmt"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Redirect URIs registered by the real clients (never listened on).
const (
	goSDKRedirect = "http://127.0.0.1/gosdk-callback"
	mcpGoRedirect = "http://127.0.0.1/mcpgo-callback"
)

// realClients logs in with the go-sdk and mcp-go clients, each doing its own discovery,
// registration, PKCE and token exchange; the suite only plays the user agent.
func (r *runner) realClients(ctx context.Context) {
	if r.asm == nil || (r.endpoints.registration == "" && r.t.Client == nil) {
		r.skipAll("needs authorization server metadata and dynamic client registration or a pre-registered client", "CLIENT-GOSDK", "CLIENT-MCPGO")
		return
	}
	r.goSDKLogin(ctx)
	r.mcpGoLogin(ctx)
}

// fetchCode plays the user agent for a client's authorization URL.
func (r *runner) fetchCode(ctx context.Context, authURL, redirectURI string) (*authzResult, error) {
	res := r.authorizeURL(ctx, authURL, redirectURI)
	if res.code() == "" {
		return res, fmt.Errorf("authorization: %s", res.summary())
	}
	return res, nil
}

func (r *runner) goSDKLogin(ctx context.Context) {
	var ev []string
	cfg := &auth.AuthorizationCodeHandlerConfig{
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			res, err := r.fetchCode(ctx, args.URL, cfgRedirect(r, goSDKRedirect))
			ev = append(ev, res.evidence...)
			if err != nil {
				return nil, err
			}
			return &auth.AuthorizationResult{Code: res.callback.Get("code"), State: res.callback.Get("state"), Iss: res.callback.Get("iss")}, nil
		},
		Client: r.hc,
	}
	if pc := r.t.Client; pc != nil {
		creds := &oauthex.ClientCredentials{ClientID: pc.ID}
		if pc.Secret != "" {
			creds.ClientSecretAuth = &oauthex.ClientSecretAuth{ClientSecret: pc.Secret}
		}
		cfg.PreregisteredClient = creds
		cfg.RedirectURL = pc.RedirectURI
	} else {
		cfg.DynamicClientRegistrationConfig = &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName:              "mcp-auth-conformance (go-sdk client)",
			RedirectURIs:            []string{goSDKRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: authNone,
		}}
		cfg.RedirectURL = goSDKRedirect
	}
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		r.violation("CLIENT-GOSDK", "configuring the go-sdk client failed: "+err.Error())
		return
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "mcp-auth-conformance", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: r.mcpURL, OAuthHandler: h, HTTPClient: r.hc}, nil)
	if err != nil {
		r.violation("CLIENT-GOSDK", "the go-sdk client could not connect: "+err.Error(), ev...)
		return
	}
	_ = session.Close()
	r.pass("CLIENT-GOSDK", append([]string{"connected (initialize) after login"}, ev...)...)
}

// cfgRedirect is the redirect URI a real client uses: the pre-registered client's, or
// the one it registers.
func cfgRedirect(r *runner, registered string) string {
	if r.t.Client != nil {
		return r.t.Client.RedirectURI
	}
	return registered
}

func (r *runner) mcpGoLogin(ctx context.Context) {
	redirect := cfgRedirect(r, mcpGoRedirect)
	cfg := mcpgoclient.OAuthConfig{
		RedirectURI: redirect,
		TokenStore:  mcpgoclient.NewMemoryTokenStore(),
		PKCEEnabled: true,
		HTTPClient:  r.hc,
	}
	if pc := r.t.Client; pc != nil {
		cfg.ClientID, cfg.ClientSecret, cfg.TokenEndpointAuthMethod = pc.ID, pc.Secret, pc.AuthMethod
	}
	c, err := mcpgoclient.NewOAuthStreamableHttpClient(r.mcpURL, cfg, mcpgotransport.WithHTTPBasicClient(r.hc))
	if err != nil {
		r.violation("CLIENT-MCPGO", "creating the mcp-go client failed: "+err.Error())
		return
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		r.violation("CLIENT-MCPGO", "starting the mcp-go client failed: "+err.Error())
		return
	}
	initialize := func() error {
		var req mcpgo.InitializeRequest
		req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
		req.Params.ClientInfo = mcpgo.Implementation{Name: "mcp-auth-conformance", Version: "1.0.0"}
		_, err := c.Initialize(ctx, req)
		return err
	}
	err = initialize()
	if err == nil {
		r.violation("CLIENT-MCPGO", "initialize succeeded without authorization")
		return
	}
	if !mcpgoclient.IsOAuthAuthorizationRequiredError(err) {
		r.violation("CLIENT-MCPGO", "mcp-go did not recognise the 401 as an authorization request: "+err.Error())
		return
	}
	h := mcpgoclient.GetOAuthHandler(err)
	if h.GetClientID() == "" {
		if err := h.RegisterClient(ctx, "mcp-auth-conformance (mcp-go client)"); err != nil {
			r.violation("CLIENT-MCPGO", "mcp-go's dynamic client registration failed: "+err.Error())
			return
		}
	}
	verifier, err1 := mcpgoclient.GenerateCodeVerifier()
	state, err2 := mcpgoclient.GenerateState()
	if err := errors.Join(err1, err2); err != nil {
		r.violation("CLIENT-MCPGO", err.Error())
		return
	}
	authURL, err := h.GetAuthorizationURL(ctx, state, mcpgoclient.GenerateCodeChallenge(verifier))
	if err != nil {
		r.violation("CLIENT-MCPGO", "mcp-go could not build the authorization URL: "+err.Error())
		return
	}
	res, err := r.fetchCode(ctx, authURL, redirect)
	if err != nil {
		r.violation("CLIENT-MCPGO", err.Error(), res.evidence...)
		return
	}
	if err := h.ProcessAuthorizationResponse(ctx, res.callback.Get("code"), res.callback.Get("state"), verifier); err != nil {
		r.violation("CLIENT-MCPGO", "mcp-go's token exchange failed: "+err.Error(), res.evidence...)
		return
	}
	if err := initialize(); err != nil {
		r.violation("CLIENT-MCPGO", "initialize after login failed: "+err.Error(), res.evidence...)
		return
	}
	r.pass("CLIENT-MCPGO", append([]string{"initialized after login"}, res.evidence...)...)
}
