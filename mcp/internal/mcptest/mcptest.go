// Package mcptest runs a real authorization server (provider over a real store, on
// loopback HTTP) that approves every authorization request, so that tests and examples of
// the resource-server side use real tokens.
package mcptest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Scopes are the scopes the test server knows.
var Scopes = []string{"files", "files:read", "files:write", "admin"}

// DefaultSubject is the user tokens are issued to unless another is asked for.
const DefaultSubject = "alice"

// clientPrefix prefixes the ID of the public client that stands for one subject.
const clientPrefix = "app-for-"

// AS is a running authorization server. Create it with New and Close it.
type AS struct {
	// Provider is the authorization server.
	Provider *provider.Provider
	// Issuer is its issuer (server URL + "/oauth").
	Issuer string

	srv     *httptest.Server
	http    *http.Client
	mu      sync.Mutex
	clients map[string]bool
}

// New starts an authorization server for resources on store. AutoApprove approves every
// request for the subject the requesting client stands for (see Tokens); edit may change
// the configuration further.
func New(store provider.Storage, resources []string, edit func(*provider.Config)) (*AS, error) {
	srv := httptest.NewUnstartedServer(nil)
	a := &AS{
		Issuer:  "http://" + srv.Listener.Addr().String() + "/oauth",
		srv:     srv,
		http:    &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		clients: map[string]bool{},
	}
	cfg := provider.Config{
		Issuer:       a.Issuer,
		Storage:      store,
		GlobalSecret: []byte("mcptest-global-secret-0123456789abcdef"),
		Scopes:       Scopes,
		Resources:    resources,
		AutoApprove: func(_ context.Context, r *provider.AuthorizationRequest) (string, bool) {
			return strings.TrimPrefix(r.ClientID, clientPrefix), true
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := provider.New(cfg)
	if err != nil {
		srv.Close()
		return nil, err
	}
	a.Provider = p
	srv.Config.Handler = p.Handler()
	srv.Start()
	return a, nil
}

// Close stops the server.
func (a *AS) Close() { a.srv.Close() }

// ClientID returns the ID of the public client whose tokens are issued to subject.
func (a *AS) ClientID(subject string) string { return clientPrefix + subject }

func (a *AS) client(subject string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := a.ClientID(subject)
	if a.clients[id] {
		return id, nil
	}
	_, _, err := a.Provider.CreateClient(context.Background(), provider.ClientSpec{
		ID: id, Name: "test app for " + subject, Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"},
	})
	if err != nil && !errors.Is(err, provider.ErrClientExists) {
		return "", err
	}
	a.clients[id] = true
	return id, nil
}

// Tokens is a token endpoint response.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// Code runs an approved authorization request with PKCE for subject and returns the
// authorization code and its verifier. An empty resource sends no resource parameter.
func (a *AS) Code(subject, scope, resource string) (code, verifier string, err error) {
	clientID, err := a.client(subject)
	if err != nil {
		return "", "", err
	}
	return a.code(clientID, "http://127.0.0.1:53682/callback", scope, resource)
}

func (a *AS) code(clientID, redirect, scope, resource string) (code, verifier string, err error) {
	verifier = oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"scope": {scope}, "state": {"state-123456"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	resp, err := a.http.Get(a.Issuer + provider.AuthorizePath + "?" + q.Encode())
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return "", "", fmt.Errorf("mcptest: authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code"), verifier, nil
}

// Tokens runs the authorization code flow for subject and returns the tokens.
func (a *AS) Tokens(subject, scope, resource string) (Tokens, error) {
	clientID, err := a.client(subject)
	if err != nil {
		return Tokens{}, err
	}
	return a.TokensFor(Client{ID: clientID, RedirectURI: "http://127.0.0.1:53682/callback"}, scope, resource)
}

// Client is a client as TokensFor uses it.
type Client struct {
	// ID is the client_id.
	ID string
	// Secret and AuthMethod authenticate a confidential client (client_secret_basic,
	// client_secret_post or private_key_jwt); empty for public clients.
	Secret, AuthMethod string
	// Assertion is the client assertion of a private_key_jwt client (see
	// ClientAssertion); a Secret beside it is sent too (a request using two methods).
	Assertion string
	// RedirectURI is sent as redirect_uri.
	RedirectURI string
}

// TokensFor runs the authorization code flow for client c (the subject is c.ID, approved
// automatically) and returns the tokens.
func (a *AS) TokensFor(c Client, scope, resource string) (Tokens, error) {
	code, verifier, err := a.code(c.ID, c.RedirectURI, scope, resource)
	if err != nil {
		return Tokens{}, err
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {c.RedirectURI},
	}
	var user, pass string
	switch c.AuthMethod {
	case provider.AuthMethodClientSecretBasic:
		user, pass = url.QueryEscape(c.ID), url.QueryEscape(c.Secret)
	case provider.AuthMethodClientSecretPost:
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case provider.AuthMethodPrivateKeyJWT:
		form.Set("client_id", c.ID)
		form.Set("client_assertion_type", provider.ClientAssertionType)
		form.Set("client_assertion", c.Assertion)
		if c.Secret != "" {
			form.Set("client_secret", c.Secret)
		}
	default:
		form.Set("client_id", c.ID)
	}
	return a.postAuth(provider.TokenPath, form, user, pass)
}

// ClientAssertion returns a private_key_jwt client assertion (RFC 7523 §2.2) for
// clientID: iss = sub = clientID, aud, a fresh jti, valid for two minutes, signed with
// key under kid and alg.
func ClientAssertion(key any, alg jose.SignatureAlgorithm, kid, clientID, aud string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}).CompactSerialize()
}

// Revoke revokes a token of subject's client (RFC 7009).
func (a *AS) Revoke(subject, token string) error {
	_, err := a.post(provider.RevocationPath, url.Values{"token": {token}, "client_id": {a.ClientID(subject)}})
	return err
}

func (a *AS) post(path string, form url.Values) (Tokens, error) {
	return a.postAuth(path, form, "", "")
}

func (a *AS) postAuth(path string, form url.Values, user, pass string) (Tokens, error) {
	req, err := http.NewRequest(http.MethodPost, a.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return Tokens{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Tokens{}, fmt.Errorf("mcptest: %s: %d %s", path, resp.StatusCode, body)
	}
	var tok Tokens
	if len(body) > 0 {
		if err := json.Unmarshal(body, &tok); err != nil {
			return Tokens{}, err
		}
	}
	return tok, nil
}

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
		return "", fmt.Errorf("mcptest: initialize: %d, session %q: %.300s", status, sid, body)
	}
	if status, _, body, err = Post(url, token, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return "", err
	} else if status != http.StatusAccepted {
		return "", fmt.Errorf("mcptest: notifications/initialized: %d %.300s", status, body)
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
		return nil, fmt.Errorf("mcptest: no endpoint event on the SSE stream (%d)", resp.StatusCode)
	}
	go func() {
		for sc.Scan() {
		}
		close(s.Ended)
	}()
	return s, nil
}
