package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// deviceServer is what the device login needs from the server's metadata.
type deviceServer struct {
	Issuer               string   `json:"issuer"`
	TokenEndpoint        string   `json:"token_endpoint"`
	RegistrationEndpoint string   `json:"registration_endpoint"`
	DeviceEndpoint       string   `json:"device_authorization_endpoint"`
	GrantTypes           []string `json:"grant_types_supported"`
}

// deviceLogin logs in with the device authorization grant (RFC 8628), for machines
// without a browser: it discovers the authorization server the way MCP clients do
// (401 challenge → RFC 9728 → RFC 8414), registers a client for the device grant
// (RFC 7591), prints the verification URI and the user code, and polls the token
// endpoint (slow_down honoured) until the user approved on another device. The
// returned config refreshes the tokens.
func deviceLogin(ctx context.Context, o clientOptions, stdout io.Writer) (*oauth2.Config, *oauth2.Token, error) {
	hc := o.HTTPClient
	scope, prmURL, err := challenge(ctx, hc, o.URL)
	if err != nil {
		return nil, nil, err
	}
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, prmURL, o.URL, hc)
	if err != nil {
		return nil, nil, fmt.Errorf("protected resource metadata: %w", err)
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, nil, errors.New("the protected resource metadata names no authorization server")
	}
	as, err := fetchDeviceServer(ctx, hc, prm.AuthorizationServers[0])
	if err != nil {
		return nil, nil, err
	}
	if as.DeviceEndpoint == "" || !slices.Contains(as.GrantTypes, provider.GrantTypeDeviceCode) {
		return nil, nil, fmt.Errorf("the authorization server %s does not offer the device authorization grant", as.Issuer)
	}
	if as.RegistrationEndpoint == "" {
		return nil, nil, fmt.Errorf("the authorization server %s offers no dynamic client registration", as.Issuer)
	}
	reg, err := oauthex.RegisterClient(ctx, as.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		ClientName:              "fosite-mcp demo client (device)",
		GrantTypes:              []string{provider.GrantTypeDeviceCode, "refresh_token"},
		TokenEndpointAuthMethod: "none",
		SoftwareID:              "github.com/fosite-mcp/fosite-mcp/cmd/demo",
		SoftwareVersion:         "1.0.0",
	}, hc)
	if err != nil {
		return nil, nil, fmt.Errorf("registering the client: %w", err)
	}
	scopes := strings.Fields(scope)
	for _, s := range o.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	conf := &oauth2.Config{
		ClientID: reg.ClientID,
		Endpoint: oauth2.Endpoint{DeviceAuthURL: as.DeviceEndpoint, TokenURL: as.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   scopes,
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	resource := oauth2.SetAuthURLParam("resource", o.URL)
	da, err := conf.DeviceAuth(octx, resource)
	if err != nil {
		return nil, nil, fmt.Errorf("device authorization: %s", oauthErrorSummary(err))
	}
	fmt.Fprintf(stdout, "\nTo sign in, open this page on any device:\n\n  %s\n\nand enter the code\n\n  %s\n\n(or open %s)\nWaiting for approval…\n",
		da.VerificationURI, da.UserCode, da.VerificationURIComplete)
	if o.OpenURL != nil {
		if err := o.OpenURL(ctx, da.VerificationURIComplete); err != nil {
			fmt.Fprintf(stdout, "(could not open a browser: %v)\n", err)
		}
	}
	tok, err := conf.DeviceAccessToken(octx, da, resource)
	if err != nil {
		return nil, nil, fmt.Errorf("device login: %s", oauthErrorSummary(err))
	}
	fmt.Fprintf(stdout, "Logged in.\n")
	return conf, tok, nil
}

// challenge asks the MCP endpoint without a token and returns the scope and the
// resource_metadata URL of its 401 challenge (the path-inserted RFC 9728 URL when the
// challenge has none).
func challenge(ctx context.Context, hc *http.Client, mcpURL string) (scope, prmURL string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mcpURL, strings.NewReader(`{}`))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", "", fmt.Errorf("%s answered %d without a token, want 401 with a challenge", mcpURL, resp.StatusCode)
	}
	chs, _ := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	for _, c := range chs {
		if strings.EqualFold(c.Scheme, "Bearer") {
			scope, prmURL = c.Params["scope"], c.Params["resource_metadata"]
		}
	}
	if prmURL == "" {
		if prmURL, err = resourceserver.MetadataURL(mcpURL); err != nil {
			return "", "", err
		}
	}
	return scope, prmURL, nil
}

// fetchDeviceServer reads the RFC 8414 metadata of issuer (path-inserted well-known URL).
func fetchDeviceServer(ctx context.Context, hc *http.Client, issuer string) (*deviceServer, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, err
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authorization server metadata %s: %s", u, resp.Status)
	}
	var m deviceServer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("authorization server metadata %s: %w", u, err)
	}
	if m.Issuer != issuer {
		return nil, fmt.Errorf("authorization server metadata %s names issuer %q, want %q (RFC 8414 §3.3)", u, m.Issuer, issuer)
	}
	return &m, nil
}
