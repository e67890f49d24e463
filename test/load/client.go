package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// maxBody is the most of a response body the harness reads.
const maxBody = 1 << 20

// mcpProtocolVersion is the MCP revision the bearer phase asks for in initialize; the
// server's answer is what the session then uses.
const mcpProtocolVersion = "2025-11-25"

// target is the deployment under load: its endpoints, found through its metadata, and
// the HTTP client that reaches them.
type target struct {
	cfg       Config
	hc        *http.Client
	transport *http.Transport

	mcpURL    string
	resource  string // the protected resource metadata's "resource", sent as RFC 8707 resource
	scope     string // the scope of the authorization requests; empty: the server's default
	issuer    string
	authorize string
	token     string
	register  string
	revoke    string // the revocation endpoint (RFC 7009), empty when the metadata names none
}

// newTarget returns a target for cfg whose HTTP client never uses a proxy, never
// follows a redirect by itself (authorizeCode follows those on the authorization
// server's origin) and, unless cfg.AllowRemote, dials loopback addresses only.
func newTarget(cfg Config) *target {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // never: a proxy would carry the load elsewhere
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			var last error
			for _, ip := range ips {
				if addr, _ := netip.AddrFromSlice(ip); !cfg.AllowRemote && !loopback.IsAddr(addr) {
					last = fmt.Errorf("load: refusing to dial %s (%s): not a loopback address", host, ip)
					continue
				}
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return c, nil
				}
				last = err
			}
			if last == nil {
				last = fmt.Errorf("load: %s resolves to no address", host)
			}
			return nil, last
		},
		MaxIdleConns:        2 * MaxConcurrency,
		MaxIdleConnsPerHost: 2 * MaxConcurrency,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		DisableCompression:  true,
	}
	return &target{
		cfg:       cfg,
		transport: tr,
		hc: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		mcpURL: cfg.MCPURL,
		scope:  cfg.Scope,
	}
}

// close releases the idle connections.
func (t *target) close() { t.transport.CloseIdleConnections() }

// wellKnown inserts /.well-known/name between the host and the path of raw (RFC 8414
// §3.1, RFC 9728 §3.1).
func wellKnown(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return u.Scheme + "://" + u.Host + "/.well-known/" + name + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// discover reads the protected resource metadata of the MCP URL and the authorization
// server metadata of its first authorization server, and checks every endpoint.
func (t *target) discover(ctx context.Context) error {
	prmURL, err := wellKnown(t.mcpURL, "oauth-protected-resource")
	if err != nil {
		return err
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	if err := t.getJSON(ctx, prmURL, &prm); err != nil {
		return fmt.Errorf("load: protected resource metadata: %w", err)
	}
	if len(prm.AuthorizationServers) == 0 {
		return fmt.Errorf("load: %s names no authorization server", prmURL)
	}
	t.resource = prm.Resource
	if t.resource == "" {
		t.resource = t.mcpURL
	}
	if t.scope == "" && t.cfg.Target == TargetTSModel {
		t.scope = strings.Join(prm.ScopesSupported, " ")
	}
	t.issuer = prm.AuthorizationServers[0]
	if err := t.cfg.checkURL("authorization server", t.issuer); err != nil {
		return err
	}
	asURL, err := wellKnown(t.issuer, "oauth-authorization-server")
	if err != nil {
		return err
	}
	var md struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		RegistrationEndpoint  string `json:"registration_endpoint"`
		RevocationEndpoint    string `json:"revocation_endpoint"`
	}
	if err := t.getJSON(ctx, asURL, &md); err != nil {
		return fmt.Errorf("load: authorization server metadata: %w", err)
	}
	if md.Issuer != t.issuer {
		return fmt.Errorf("load: %s: issuer %q, want %q", asURL, md.Issuer, t.issuer)
	}
	t.authorize, t.token, t.register = md.AuthorizationEndpoint, md.TokenEndpoint, md.RegistrationEndpoint
	if md.RevocationEndpoint != "" {
		if err := t.cfg.checkURL("revocation_endpoint", md.RevocationEndpoint); err != nil {
			return err
		}
		t.revoke = md.RevocationEndpoint
	}
	for what, u := range map[string]string{
		"authorization_endpoint": t.authorize,
		"token_endpoint":         t.token,
		"registration_endpoint":  t.register,
	} {
		if u == "" {
			return fmt.Errorf("load: the authorization server metadata has no %s (the harness registers its clients dynamically)", what)
		}
		if err := t.cfg.checkURL(what, u); err != nil {
			return err
		}
	}
	return nil
}

// getJSON GETs u and decodes a 200 JSON answer into v.
func (t *target) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, body, err := t.do(req, "metadata")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// StepError is a failed request of an operation.
type StepError struct {
	// Step is the request: "register", "authorize", "token", "refresh", "mcp
	// initialize", "mcp ping", …
	Step string
	// Status is the HTTP status, 0 when no response came back.
	Status int
	// Code is the OAuth error code (the JSON body's or the WWW-Authenticate header's
	// "error"), "jsonrpc N" for a JSON-RPC error, a transport error's kind ("timeout",
	// "connection refused", …), or a short description of what was wrong.
	Code string
	// Detail is the error_description or message, when there is one; never a token.
	Detail string
}

// Error implements error.
func (e *StepError) Error() string {
	if e.Detail == "" {
		return e.Kind()
	}
	return e.Kind() + ": " + e.Detail
}

// Kind is what errors are counted by: the step, the status and the code.
func (e *StepError) Kind() string {
	if e.Status == 0 {
		return e.Step + " transport: " + e.Code
	}
	if e.Code == "" {
		return e.Step + " " + strconv.Itoa(e.Status)
	}
	return e.Step + " " + strconv.Itoa(e.Status) + " " + e.Code
}

// transportKind names a transport error without its URL (an authorization request's
// query is in it).
func transportKind(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port free"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return err.Error()
}

// do sends req and reads up to maxBody of the answer.
func (t *target) do(req *http.Request, step string) (*http.Response, []byte, error) {
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, nil, &StepError{Step: step, Code: transportKind(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, &StepError{Step: step, Status: resp.StatusCode, Code: "reading the body: " + transportKind(err)}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e := oauthError(step, resp, body)
		if e.Code == "" {
			e.Code = "rate limited"
		}
		e.Detail = "the target rate-limits this client address (Retry-After: " + resp.Header.Get("Retry-After") +
			"); turn its limits off for a load test (the demo: -rate-limit=false; mcp.Config.RateLimits = &mcp.RateLimits{Disabled: true})"
		return nil, nil, e
	}
	return resp, body, nil
}

// oauthError is the StepError of an OAuth error answer (RFC 6749 §5.2, RFC 7591 §3.2.2).
func oauthError(step string, resp *http.Response, body []byte) *StepError {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &e)
	return &StepError{Step: step, Status: resp.StatusCode, Code: e.Error, Detail: truncate(e.Description)}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// registerClient registers a public client (token_endpoint_auth_method none) for the
// authorization code and refresh token grants and returns its client_id.
func (t *target) registerClient(ctx context.Context, name string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"client_name":                name,
		"redirect_uris":              []string{t.cfg.RedirectURI},
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.register, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, raw, err := t.do(req, "register")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", oauthError("register", resp, raw)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(raw, &reg); err != nil || reg.ClientID == "" {
		return "", &StepError{Step: "register", Status: resp.StatusCode, Code: "no client_id"}
	}
	return reg.ClientID, nil
}

// authorizeCode sends an authorization request for clientID (PKCE S256, a fresh state,
// the resource) and returns the code and its verifier from the redirect to the
// redirect URI, which it does not follow, and how many HTTP requests it sent: one, plus
// one per redirect it followed on the authorization server's origin (at most
// MaxConsentRedirects) on the way there.
func (t *target) authorizeCode(ctx context.Context, clientID string) (code, verifier string, requests int, err error) {
	verifier = randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	state := randomString(16)
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {t.cfg.RedirectURI},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"resource":              {t.resource},
	}
	if t.scope != "" {
		q.Set("scope", t.scope)
	}
	u, err := url.Parse(t.authorize)
	if err != nil {
		return "", "", 0, err
	}
	uq := u.Query()
	for k, v := range q {
		uq[k] = v
	}
	u.RawQuery = uq.Encode()
	loc, status, requests, err := t.followToRedirectURI(ctx, u)
	if err != nil {
		return "", "", requests, err
	}
	cb := loc.Query()
	if e := cb.Get("error"); e != "" {
		return "", "", requests, &StepError{Step: "authorize", Status: status, Code: e, Detail: truncate(cb.Get("error_description"))}
	}
	if cb.Get("state") != state {
		return "", "", requests, &StepError{Step: "authorize", Status: status, Code: "state mismatch"}
	}
	if code = cb.Get("code"); code == "" {
		return "", "", requests, &StepError{Step: "authorize", Status: status, Code: "no code"}
	}
	return code, verifier, requests, nil
}

// followToRedirectURI GETs the authorization request u and follows redirects that stay
// on the authorization endpoint's origin (scheme, host and port: a consent page that
// approves at once) until one goes to the redirect URI, whose URL it returns with the
// status of that redirect and the number of requests sent. A redirect anywhere else,
// an answer that is no redirect, or more than MaxConsentRedirects hops is an error
// naming auto-approval: the harness cannot log in through a page.
func (t *target) followToRedirectURI(ctx context.Context, u *url.URL) (loc *url.URL, status, requests int, err error) {
	origin := *u
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, 0, requests, err
		}
		requests++
		resp, _, err := t.do(req, "authorize")
		if err != nil {
			return nil, 0, requests, err
		}
		loc, lerr := resp.Location()
		if resp.StatusCode < 300 || resp.StatusCode > 399 || lerr != nil {
			return nil, 0, requests, &StepError{Step: "authorize", Status: resp.StatusCode, Code: "no redirect",
				Detail: "the authorization server did not redirect back at once; start the target with auto-approval (the demo: -auto-approve USER)"}
		}
		switch {
		case sameEndpoint(loc, t.cfg.RedirectURI):
			return loc, resp.StatusCode, requests, nil
		case sameOrigin(loc, &origin) && hop < MaxConsentRedirects:
			u = loc
		default:
			what := "redirected to " + loc.Scheme + "://" + loc.Host + loc.Path + " instead of the redirect URI"
			if sameOrigin(loc, &origin) {
				what = "more than " + strconv.Itoa(MaxConsentRedirects) + " redirects on the authorization server"
			}
			return nil, 0, requests, &StepError{Step: "authorize", Status: resp.StatusCode, Code: "not approved",
				Detail: what + "; start the target with auto-approval (the demo: -auto-approve USER)"}
		}
	}
}

// sameOrigin reports whether a and b have the same scheme, host and port (RFC 6454),
// the default port spelled or not.
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// sameEndpoint reports whether u is the URL want, ignoring the query.
func sameEndpoint(u *url.URL, want string) bool {
	w, err := url.Parse(want)
	return err == nil && strings.EqualFold(u.Scheme, w.Scheme) && strings.EqualFold(u.Host, w.Host) && u.Path == w.Path
}

// tokens is a token endpoint's successful answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
}

// exchangeCode redeems code at the token endpoint.
func (t *target) exchangeCode(ctx context.Context, clientID, code, verifier string) (tokens, error) {
	return t.tokenRequest(ctx, "token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {t.cfg.RedirectURI},
		"client_id":     {clientID},
		"code_verifier": {verifier},
		"resource":      {t.resource},
	})
}

// refreshTokens rotates refreshToken.
func (t *target) refreshTokens(ctx context.Context, clientID, refreshToken string) (tokens, error) {
	return t.tokenRequest(ctx, "refresh", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {clientID},
		"resource":      {t.resource},
	})
}

// tokenRequest POSTs form to the token endpoint and requires a bearer access token.
func (t *target) tokenRequest(ctx context.Context, step string, form url.Values) (tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.token, strings.NewReader(form.Encode()))
	if err != nil {
		return tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, raw, err := t.do(req, step)
	if err != nil {
		return tokens{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return tokens{}, oauthError(step, resp, raw)
	}
	var tok tokens
	if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" {
		return tokens{}, &StepError{Step: step, Status: resp.StatusCode, Code: "no access_token"}
	}
	if !strings.EqualFold(tok.TokenType, "bearer") {
		return tokens{}, &StepError{Step: step, Status: resp.StatusCode, Code: "token_type " + tok.TokenType}
	}
	return tok, nil
}

// mcpSession is an MCP session on the streamable HTTP transport.
type mcpSession struct {
	id      string // Mcp-Session-Id; empty for a stateless server
	version string // the negotiated protocol version
	nextID  int64
}

// mcpInitialize opens an MCP session with accessToken: initialize, then the
// notifications/initialized notification.
func (t *target) mcpInitialize(ctx context.Context, accessToken string) (*mcpSession, error) {
	s := &mcpSession{nextID: 1}
	var err error
	if s.id, s.version, err = t.mcpInitializeRequest(ctx, accessToken, s); err != nil {
		return nil, err
	}
	if _, _, err := t.mcpPost(ctx, "mcp initialized", accessToken, s, "notifications/initialized", nil); err != nil {
		return nil, err
	}
	return s, nil
}

// mcpInitializeRequest sends the initialize request in s (which has no ID yet) and
// returns the session ID the server assigned (empty for a stateless server) and the
// negotiated protocol version.
func (t *target) mcpInitializeRequest(ctx context.Context, accessToken string, s *mcpSession) (id, version string, err error) {
	resp, result, err := t.mcpPost(ctx, "mcp initialize", accessToken, s, "initialize", map[string]any{
		"protocolVersion": mcpProtocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "mcp-auth-load", "version": "1.0.0"},
	})
	if err != nil {
		return "", "", err
	}
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(result, &init) != nil || init.ProtocolVersion == "" {
		return "", "", &StepError{Step: "mcp initialize", Status: resp.StatusCode, Code: "no protocolVersion"}
	}
	return resp.Header.Get("Mcp-Session-Id"), init.ProtocolVersion, nil
}

// mcpCall sends the request method (no parameters) in session s and requires a result.
func (t *target) mcpCall(ctx context.Context, accessToken string, s *mcpSession, method string) error {
	_, _, err := t.mcpPost(ctx, "mcp "+method, accessToken, s, method, nil)
	return err
}

// mcpClose ends session s (DELETE), best effort.
func (t *target) mcpClose(ctx context.Context, accessToken string, s *mcpSession) {
	_ = t.mcpDelete(ctx, accessToken, s)
}

// mcpDelete ends session s with DELETE and requires a 2xx answer; a session without
// an ID (a stateless server) needs nothing.
func (t *target) mcpDelete(ctx context.Context, accessToken string, s *mcpSession) error {
	if s == nil || s.id == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, t.mcpURL, nil)
	if err != nil {
		return err
	}
	t.mcpHeaders(req, accessToken, s)
	resp, _, err := t.do(req, "mcp delete")
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StepError{Step: "mcp delete", Status: resp.StatusCode}
	}
	return nil
}

// revokeToken revokes token at the revocation endpoint (RFC 7009 §2.1) as the public
// client clientID; the answer must be 200.
func (t *target) revokeToken(ctx context.Context, clientID, token, hint string) error {
	if t.revoke == "" {
		return &StepError{Step: "revoke", Code: "no revocation_endpoint in the metadata"}
	}
	form := url.Values{"token": {token}, "token_type_hint": {hint}, "client_id": {clientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.revoke, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, raw, err := t.do(req, "revoke")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return oauthError("revoke", resp, raw)
	}
	return nil
}

func (t *target) mcpHeaders(req *http.Request, accessToken string, s *mcpSession) {
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
	}
	if s.version != "" {
		req.Header.Set("Mcp-Protocol-Version", s.version)
	}
}

// wwwAuthError reads error="…" from a WWW-Authenticate challenge (RFC 6750 §3).
var wwwAuthError = regexp.MustCompile(`(?i)\berror="([^"]*)"`)

// mcpPost POSTs one JSON-RPC message: a request (it returns the response's result) or,
// for a method starting with "notifications/", a notification (202, no body).
func (t *target) mcpPost(ctx context.Context, step, accessToken string, s *mcpSession, method string, params any) (*http.Response, json.RawMessage, error) {
	msg := map[string]any{"jsonrpc": "2.0", "method": method}
	if params != nil {
		msg["params"] = params
	}
	notification := strings.HasPrefix(method, "notifications/")
	var id int64
	if !notification {
		id = s.nextID
		s.nextID++
		msg["id"] = id
	}
	body, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.mcpURL, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	t.mcpHeaders(req, accessToken, s)
	resp, raw, err := t.do(req, step)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		code := ""
		if m := wwwAuthError.FindStringSubmatch(resp.Header.Get("WWW-Authenticate")); m != nil {
			code = m[1]
		}
		return nil, nil, &StepError{Step: step, Status: resp.StatusCode, Code: code}
	}
	if notification {
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			return nil, nil, &StepError{Step: step, Status: resp.StatusCode}
		}
		return resp, nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &StepError{Step: step, Status: resp.StatusCode, Detail: truncate(strings.TrimSpace(string(raw)))}
	}
	result, serr := jsonRPCResult(resp.Header.Get("Content-Type"), raw, id)
	if serr != nil {
		serr.Step, serr.Status = step, resp.StatusCode
		return nil, nil, serr
	}
	return resp, result, nil
}

// rpcMessage is a JSON-RPC response.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// jsonRPCResult finds the response to request id in a JSON body or an SSE stream
// (text/event-stream: the data lines of each event) and returns its result.
func jsonRPCResult(contentType string, raw []byte, id int64) (json.RawMessage, *StepError) {
	var msgs [][]byte
	if strings.HasPrefix(strings.ToLower(contentType), "text/event-stream") {
		var data bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 64<<10), maxBody)
		flush := func() {
			if data.Len() > 0 {
				msgs = append(msgs, bytes.Clone(data.Bytes()))
				data.Reset()
			}
		}
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case len(line) == 0:
				flush()
			case bytes.HasPrefix(line, []byte("data:")):
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.Write(bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" ")))
			}
		}
		flush()
	} else {
		msgs = [][]byte{raw}
	}
	want := strconv.FormatInt(id, 10)
	for _, m := range msgs {
		var r rpcMessage
		if json.Unmarshal(m, &r) != nil || string(r.ID) != want {
			continue
		}
		if r.Error != nil {
			return nil, &StepError{Code: "jsonrpc " + strconv.Itoa(r.Error.Code), Detail: truncate(r.Error.Message)}
		}
		if len(r.Result) == 0 {
			return nil, &StepError{Code: "no result"}
		}
		return r.Result, nil
	}
	return nil, &StepError{Code: "no response to the request"}
}
