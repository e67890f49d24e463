package conformance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// Authentication methods.
const (
	authNone  = "none"
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
)

// testClient is a client the suite uses: registered by it or pre-registered.
type testClient struct {
	name        string
	id          string
	secret      string
	authMethod  string
	redirectURI string // registered redirect URI used as is
	regURI      string // RFC 7592 client configuration endpoint, when offered
	regToken    string // RFC 7592 registration access token
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authParams returns a well-formed authorization request for c with PKCE (S256) for
// verifier, the flow scopes and resource = the MCP URL.
func (r *runner) authParams(c *testClient, verifier string) url.Values {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.id},
		"redirect_uri":          {c.redirectURI},
		"state":                 {randomString()[:16]},
		"code_challenge":        {s256(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {r.mcpURL},
	}
	if len(r.scopes) > 0 {
		q.Set("scope", strings.Join(r.scopes, " "))
	}
	return q
}

// authzResult is what an authorization request led to.
type authzResult struct {
	// callback is the authorization response (query of the redirect to redirectURI);
	// nil when the user agent was never sent there.
	callback url.Values
	// evidence lists the hops.
	evidence []string
	// last is the last exchange (a page or error) when no callback was reached.
	last *exchange
}

func (a *authzResult) code() string {
	if a.callback == nil {
		return ""
	}
	return a.callback.Get("code")
}

// summary describes the outcome in one line.
func (a *authzResult) summary() string {
	switch {
	case a.callback != nil && a.callback.Get("code") != "":
		return "redirected to the redirect URI with a code"
	case a.callback != nil:
		return fmt.Sprintf("redirected to the redirect URI with error=%q", a.callback.Get("error"))
	case a.last != nil && a.last.err != nil:
		return "request failed: " + a.last.err.Error()
	case a.last != nil:
		return fmt.Sprintf("stopped at a page with status %d (no redirect to the redirect URI)", a.last.status)
	default:
		return "no response"
	}
}

// sameRedirect reports whether got is the redirect URI want, ignoring the query and,
// for loopback hosts, the port.
func sameRedirect(got *url.URL, want string) bool {
	w, err := url.Parse(want)
	if err != nil {
		return false
	}
	if !strings.EqualFold(got.Scheme, w.Scheme) || !strings.EqualFold(got.Hostname(), w.Hostname()) {
		return false
	}
	if got.Port() != w.Port() && !loopback.IsHost(w.Hostname()) {
		return false
	}
	if w.Opaque != "" || got.Opaque != "" {
		return got.Opaque == w.Opaque
	}
	return strings.TrimSuffix(got.Path, "/") == strings.TrimSuffix(w.Path, "/")
}

// authorize sends the authorization request q to the authorization endpoint and plays
// the user agent: it follows redirects and hands pages of the authorization server to
// the login driver, until the user agent is sent to redirectURI (the authorization
// response) or nothing more can be done. It never requests redirectURI itself.
func (r *runner) authorize(ctx context.Context, q url.Values, redirectURI string) *authzResult {
	res := &authzResult{}
	if r.endpoints.authorize == "" {
		res.last = &exchange{err: fmt.Errorf("no authorization_endpoint")}
		return res
	}
	au, err := url.Parse(r.endpoints.authorize)
	if err != nil {
		res.last = &exchange{err: err}
		return res
	}
	uq := au.Query()
	for k, v := range q {
		uq[k] = v
	}
	au.RawQuery = uq.Encode()
	res = r.authorizeURL(ctx, au.String(), redirectURI)
	if res.callback != nil && q.Get("state") != "" {
		got := res.callback["state"]
		r.check("AUTHZ-STATE", len(got) == 1 && got[0] == q.Get("state"),
			fmt.Sprintf("state %q sent, %q received", q.Get("state"), strings.Join(got, ",")), res.evidence[len(res.evidence)-1])
	}
	return res
}

// authorizeURL is authorize for a complete authorization request URL (as real clients
// build it).
func (r *runner) authorizeURL(ctx context.Context, rawURL, redirectURI string) *authzResult {
	res := &authzResult{}
	au, err := url.Parse(rawURL)
	if err != nil {
		res.last = &exchange{err: err}
		return res
	}
	asOrigin := au.Scheme + "://" + au.Host
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		res.last = &exchange{err: err}
		return res
	}
	submits := 0
	for hop := 0; hop < 16; hop++ {
		e := r.send(req)
		res.evidence = append(res.evidence, e.line())
		res.last = e
		if e.err != nil {
			return res
		}
		if loc := e.location(); loc != nil {
			if redirectURI != "" && sameRedirect(loc, redirectURI) {
				res.callback = loc.Query()
				res.last = nil
				r.noteAuthorizationResponse(res)
				return res
			}
			if !r.mayFollow(loc, asOrigin) {
				res.evidence = append(res.evidence, "not followed: "+redactURL(loc.String()))
				return res // sent somewhere else (another redirect URI, a client): not followed
			}
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
			if err != nil {
				return res
			}
			continue
		}
		// A page. Only pages of the authorization server's origin go to the driver.
		if req.URL.Scheme+"://"+req.URL.Host != asOrigin || submits >= 4 {
			return res
		}
		pageURL := *req.URL
		next, err := r.login.Next(ctx, &Page{URL: &pageURL, Status: e.status, Header: e.header, Body: e.body})
		if err != nil || next == nil {
			if err != nil {
				res.evidence = append(res.evidence, "login driver: "+err.Error())
			}
			return res
		}
		submits++
		req = next
	}
	res.evidence = append(res.evidence, "too many redirects")
	return res
}

// mayFollow reports whether the user agent may follow a redirect to u: http(s) only,
// never to a .invalid host, and on a loopback host only to the authorization server's
// or the MCP server's origin (anything else there is some client's redirect URI).
func (r *runner) mayFollow(u *url.URL, asOrigin string) bool {
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasSuffix(host, ".invalid") {
		return false
	}
	origin := u.Scheme + "://" + u.Host
	if origin == asOrigin {
		return true
	}
	if mu, err := url.Parse(r.mcpURL); err == nil && origin == mu.Scheme+"://"+mu.Host {
		return true
	}
	return !loopback.IsHost(host)
}

// noteAuthorizationResponse checks iss (RFC 9207) on every authorization response.
func (r *runner) noteAuthorizationResponse(a *authzResult) {
	cb := a.callback
	id := "ISS-SUCCESS"
	if cb.Get("code") == "" {
		id = "ISS-ERROR"
	}
	r.issSeen = true
	ev := a.evidence[len(a.evidence)-1]
	iss, present := cb["iss"]
	advertised := r.asm["authorization_response_iss_parameter_supported"] == true
	switch {
	case present && len(iss) == 1 && iss[0] == r.issuer:
		r.issSent = true
		r.pass(id, ev)
	case present:
		r.issSent = true
		r.violation(id, fmt.Sprintf("iss=%q differs from the metadata issuer %q", strings.Join(iss, ","), r.issuer), ev)
	case advertised:
		r.violation(id, "no iss although authorization_response_iss_parameter_supported is true", ev)
	default:
		r.warn(id, "no iss (MCP 2026-07-28: authorization servers SHOULD send it)", ev)
	}
}

// finishIss evaluates ISS-ADVERTISED from what the authorization responses showed.
func (r *runner) finishIss() {
	if r.asm == nil || !r.issSeen {
		r.skipAll("no authorization response was seen", "ISS-ADVERTISED", "ISS-SUCCESS", "ISS-ERROR")
		return
	}
	v, present := r.asm["authorization_response_iss_parameter_supported"]
	ev := fmt.Sprintf("authorization_response_iss_parameter_supported=%v", v)
	if !present {
		ev = "authorization_response_iss_parameter_supported absent"
	}
	advertised := v == true
	switch {
	case advertised && r.issSent:
		r.pass("ISS-ADVERTISED", ev)
	case !advertised && r.issSent:
		r.violation("ISS-ADVERTISED", "iss is sent but not advertised (the go-sdk rejects such responses)", ev)
	case advertised:
		r.violation("ISS-ADVERTISED", "advertised but iss is never sent", ev)
	default:
		r.warn("ISS-ADVERTISED", "iss neither sent nor advertised (MCP 2026-07-28: SHOULD)", ev)
	}
}

// tokenSet is a successful token response.
type tokenSet struct {
	access, refresh, scope, tokenType string
	expiresIn                         any
}

// tokenRequest posts form to the token endpoint, authenticating as c.
func (r *runner) tokenRequest(ctx context.Context, c *testClient, form url.Values) *exchange {
	return r.clientPost(ctx, r.endpoints.token, c, form)
}

// clientPost posts form to endpoint with c's client authentication.
func (r *runner) clientPost(ctx context.Context, endpoint string, c *testClient, form url.Values) *exchange {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	switch c.authMethod {
	case authBasic:
		return r.postForm(ctx, endpoint, f, c.id, c.secret)
	case authPost:
		f.Set("client_id", c.id)
		f.Set("client_secret", c.secret)
	default:
		f.Set("client_id", c.id)
	}
	return r.postForm(ctx, endpoint, f, "", "")
}

// noteTokenResponse checks the general token response rules on a successful token
// response and parses it.
func (r *runner) noteTokenResponse(e *exchange) *tokenSet {
	ev := e.line()
	cc := e.header.Get("Cache-Control")
	noStore := false
	for _, d := range strings.Split(cc, ",") {
		if strings.EqualFold(strings.TrimSpace(d), "no-store") {
			noStore = true
		}
	}
	r.check("TOKEN-NO-STORE", noStore, "Cache-Control lacks no-store", ev, e.headerLine("Cache-Control"))
	r.check("TOKEN-JSON", e.isJSON(), "not application/json", ev)
	m := e.object()
	if m == nil {
		r.violation("TOKEN-JSON", "the body is not a JSON object", ev)
		return nil
	}
	ts := &tokenSet{access: str(m, "access_token"), refresh: str(m, "refresh_token"), scope: str(m, "scope"), tokenType: str(m, "token_type")}
	ts.expiresIn = m["expires_in"]
	r.check("TOKEN-TYPE", strings.EqualFold(ts.tokenType, "Bearer"), fmt.Sprintf("token_type=%q", ts.tokenType), ev)
	_, isNum := m["expires_in"].(json.Number)
	r.check("TOKEN-EXPIRES-IN", isNum, "expires_in missing or not a number", ev)
	if ts.access == "" {
		r.violation("TOKEN-JSON", "no access_token in a 200 token response", ev)
		return nil
	}
	return ts
}

// grant is an authorization code obtained for a client.
type grant struct {
	c           *testClient
	code        string
	verifier    string
	redirectURI string
	res         *authzResult
}

// getCode runs an authorization request for c (mutated by edit, which may be nil) and
// returns the code; nil with the result when no code came.
func (r *runner) getCode(ctx context.Context, c *testClient, edit func(q url.Values)) (*grant, *authzResult) {
	verifier := randomString()
	q := r.authParams(c, verifier)
	if edit != nil {
		edit(q)
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = c.redirectURI
	}
	res := r.authorize(ctx, q, redirect)
	if res.code() == "" {
		return nil, res
	}
	return &grant{c: c, code: res.code(), verifier: verifier, redirectURI: q.Get("redirect_uri"), res: res}, res
}

// redeemForm is the token request for g (resource = the MCP URL).
func (r *runner) redeemForm(g *grant) url.Values {
	f := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {g.code},
		"code_verifier": {g.verifier},
		"resource":      {r.mcpURL},
	}
	if g.redirectURI != "" {
		f.Set("redirect_uri", g.redirectURI)
	}
	return f
}

// redeem exchanges g's code (form mutated by edit) and returns the exchange and, on
// success, the tokens.
func (r *runner) redeem(ctx context.Context, g *grant, edit func(f url.Values)) (*exchange, *tokenSet) {
	f := r.redeemForm(g)
	if edit != nil {
		edit(f)
	}
	e := r.tokenRequest(ctx, g.c, f)
	if e.err != nil || e.status != http.StatusOK {
		return e, nil
	}
	ts := r.noteTokenResponse(e)
	if ts != nil {
		r.track(g.c, ts)
	}
	return e, ts
}

// tokens runs a whole authorization code flow for c and returns the tokens, or an
// error describing what went wrong (with evidence).
func (r *runner) tokens(ctx context.Context, c *testClient, editAuth func(url.Values), editToken func(url.Values)) (*tokenSet, []string, error) {
	g, res := r.getCode(ctx, c, editAuth)
	if g == nil {
		return nil, res.evidence, fmt.Errorf("authorization failed: %s", res.summary())
	}
	e, ts := r.redeem(ctx, g, editToken)
	ev := append(append([]string{}, res.evidence...), e.withError())
	if ts == nil {
		return nil, ev, fmt.Errorf("token request failed")
	}
	return ts, ev, nil
}

// refreshForm is a refresh request without resource (as the go-sdk sends it).
func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

// track remembers tokens for revocation at the end.
func (r *runner) track(c *testClient, ts *tokenSet) {
	if ts.refresh != "" {
		r.issued = append(r.issued, issuedToken{c, ts.refresh})
	}
	r.issued = append(r.issued, issuedToken{c, ts.access})
}

// cleanup revokes the tokens the suite obtained and deletes the clients it registered.
func (r *runner) cleanup(ctx context.Context) {
	if r.endpoints.revocation != "" {
		for _, it := range r.issued {
			r.clientPost(ctx, r.endpoints.revocation, it.c, url.Values{"token": {it.token}})
		}
	}
	if r.t.KeepClients {
		return
	}
	for _, c := range r.registered {
		if c.regURI == "" || c.regToken == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.regURI, nil)
		if err != nil {
			continue
		}
		req.Header.Set("Authorization", "Bearer "+c.regToken)
		r.send(req)
	}
}
