package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// RFC 7636 Appendix B test vector.
const (
	rfc7636Verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7636Challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// Values that name nothing on any server.
const (
	unknownResource  = "https://conformance.invalid/mcp"
	attackerRedirect = "https://attacker.invalid/callback"
)

// flowChecks are the checks that need a client for authorization flows.
var flowChecks = []string{
	"CHAL-VALID-TOKEN", "CHAL-INVALID-TOKEN", "CHAL-INVALID-TOKEN-CODE", "CHAL-REFRESH-AS-ACCESS", "CHAL-AUDIENCE",
	"CHAL-QUERY-TOKEN", "CHAL-SESSION-NO-TOKEN", "CHAL-INSUFFICIENT-SCOPE", "REG-CIMD-ENFORCED",
	"PKCE-S256", "PKCE-WRONG-VERIFIER", "PKCE-MISSING-VERIFIER", "PKCE-PLAIN-REFUSED", "PKCE-MISSING-CHALLENGE", "PKCE-DOWNGRADE",
	"REDIR-LOOPBACK-PORT", "REDIR-LOCALHOST-PORT", "REDIR-EXACT", "REDIR-UNREGISTERED", "REDIR-UNKNOWN-CLIENT",
	"RES-TOKEN-REQUEST", "RES-AUDIENCE", "RES-UPPERCASE", "RES-UNKNOWN", "RES-FRAGMENT", "RES-WIDEN", "RES-RETRYABLE", "RES-NARROW",
	"RES-OMITTED-TOKEN", "RES-REFRESH-KEEPS", "RES-REFRESH-WIDEN",
	"TOKEN-NO-STORE", "TOKEN-JSON", "TOKEN-TYPE", "TOKEN-EXPIRES-IN", "TOKEN-ERRORS", "TOKEN-BASIC-401", "TOKEN-CODE-REPLAY",
	"TOKEN-CODE-REPLAY-REVOKES", "TOKEN-REDIRECT-MISMATCH", "TOKEN-CLIENT-MISMATCH",
	"REFRESH-ROTATION", "REFRESH-OLD-INVALID", "REFRESH-REUSE-REVOKES", "AUTHZ-STATE",
	"REVOKE-REFRESH", "REVOKE-ACCESS", "REVOKE-CASCADE", "REVOKE-HINT", "REVOKE-OWNER-ONLY", "REVOKE-UNKNOWN",
	"INTRO-AUTH", "INTRO-ACTIVE", "INTRO-INACTIVE", "INTRO-SELF-REGISTERED", "CONC-CODE-ONCE", "CLIENT-GOSDK", "CLIENT-MCPGO",
}

// ready reports whether flows can run; otherwise it skips every flow check once.
func (r *runner) ready() bool {
	if r.asm != nil && r.main != nil && r.endpoints.authorize != "" && r.endpoints.token != "" {
		return true
	}
	reason := "no authorization server metadata"
	if r.asm != nil {
		reason = "no client: the server offers no dynamic client registration (or it failed) and no pre-registered client was configured"
	}
	r.skipAll(reason, flowChecks...)
	return false
}

// basicFlow runs one complete authorization code flow as MCP clients do and uses the
// token at the MCP endpoint.
func (r *runner) basicFlow(ctx context.Context) {
	if !r.ready() {
		return
	}
	ts, ev, err := r.tokens(ctx, r.main, nil, nil)
	if err != nil {
		r.violation("RES-TOKEN-REQUEST", "the authorization code flow failed: "+err.Error(), ev...)
		r.violation("CHAL-VALID-TOKEN", "no token: the authorization code flow failed", ev...)
		return
	}
	r.pass("RES-TOKEN-REQUEST", ev...)
	e := r.mcpPost(ctx, "", ts.access)
	r.check("CHAL-VALID-TOKEN", accepted(e), fmt.Sprintf("status %d for a fresh token bound to the MCP URL", e.status), e.line(), e.headerLine("WWW-Authenticate"))
}

// fresh runs a complete flow for c and returns the tokens, or records skips/violations
// for ids and returns nil.
func (r *runner) fresh(ctx context.Context, c *testClient, ids ...string) *tokenSet {
	ts, ev, err := r.tokens(ctx, c, nil, nil)
	if err != nil {
		for _, id := range ids {
			r.skip(id, "the authorization code flow failed: "+err.Error(), ev...)
		}
		return nil
	}
	return ts
}

// refused reports whether the MCP server refused a token with 401.
func refused401(e *exchange) bool { return e.err == nil && e.status == http.StatusUnauthorized }

// challenges checks the MCP server's handling of bad, misplaced and insufficient tokens.
func (r *runner) challenges(ctx context.Context) {
	if r.main == nil {
		return
	}
	e := r.mcpPost(ctx, "", "conformance-invalid-"+randomString())
	ev := []string{e.line() + " (Authorization: Bearer <made-up token>)", e.headerLine("WWW-Authenticate")}
	r.check("CHAL-INVALID-TOKEN", refused401(e), fmt.Sprintf("status %d instead of 401", e.status), ev...)
	ch, _ := bearerChallenge(e)
	r.check("CHAL-INVALID-TOKEN-CODE", ch.params["error"] == "invalid_token", fmt.Sprintf("error=%q", ch.params["error"]), ev...)

	ts := r.fresh(ctx, r.main, "CHAL-REFRESH-AS-ACCESS", "CHAL-QUERY-TOKEN", "CHAL-SESSION-NO-TOKEN")
	if ts != nil {
		if ts.refresh != "" {
			e := r.mcpPost(ctx, "", ts.refresh)
			r.check("CHAL-REFRESH-AS-ACCESS", refused401(e), fmt.Sprintf("status %d for a refresh token", e.status), e.line()+" (Authorization: Bearer <refresh token>)")
		} else {
			r.skip("CHAL-REFRESH-AS-ACCESS", "no refresh token issued")
		}
		// A token in the query string.
		u, _ := url.Parse(r.mcpURL)
		q := u.Query()
		q.Set("access_token", ts.access)
		u.RawQuery = q.Encode()
		eq := r.mcpPost(ctx, u.String(), "")
		r.check("CHAL-QUERY-TOKEN", !accepted(eq), fmt.Sprintf("status %d: the token in the query string was accepted", eq.status), eq.line())

		// A session opened with a token, used without one.
		r.sessionWithoutToken(ctx, ts.access)
	}

	// Audience: a token for the other resource.
	if r.t.OtherResource == "" {
		r.skip("CHAL-AUDIENCE", "set Target.OtherResource (another resource of the same authorization server) to check audience validation")
	} else {
		other, ev, err := r.tokens(ctx, r.main, func(q url.Values) { q.Set("resource", r.t.OtherResource) },
			func(f url.Values) { f.Set("resource", r.t.OtherResource) })
		if err != nil {
			r.skip("CHAL-AUDIENCE", "could not obtain a token for "+r.t.OtherResource+": "+err.Error(), ev...)
		} else {
			e := r.mcpPost(ctx, "", other.access)
			r.check("CHAL-AUDIENCE", refused401(e), fmt.Sprintf("status %d for a token bound to %s", e.status, r.t.OtherResource), e.line(), e.headerLine("WWW-Authenticate"))
		}
	}

	r.insufficientScope(ctx)
}

// sessionWithoutToken opens an MCP session with token, then sends a request in that
// session without a token.
func (r *runner) sessionWithoutToken(ctx context.Context, token string) {
	e := r.postJSON(ctx, r.mcpURL, []byte(initializeBody), "Accept", "application/json, text/event-stream",
		"MCP-Protocol-Version", "2025-06-18", "Authorization", "Bearer "+token)
	sid := e.header.Get("Mcp-Session-Id")
	note := "session from initialize"
	if sid == "" {
		sid = "conformance-session-" + randomString()[:12]
		note = "no session ID issued; made-up session ID"
	}
	ping := `{"jsonrpc":"2.0","id":2,"method":"ping"}`
	ep := r.postJSON(ctx, r.mcpURL, []byte(ping), "Accept", "application/json, text/event-stream",
		"MCP-Protocol-Version", "2025-06-18", "Mcp-Session-Id", sid)
	r.check("CHAL-SESSION-NO-TOKEN", refused401(ep), fmt.Sprintf("status %d for a request in a session without a token", ep.status),
		e.line(), ep.line()+" (ping with Mcp-Session-Id, "+note+", no Authorization)")
	if e.header.Get("Mcp-Session-Id") != "" {
		if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, r.mcpURL, nil); err == nil {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Mcp-Session-Id", sid)
			r.send(req)
		}
	}
}

// insufficientScope gets a token without the challenged scope and expects 403
// insufficient_scope.
func (r *runner) insufficientScope(ctx context.Context) {
	if r.chal == nil || r.chal.params["scope"] == "" {
		r.skip("CHAL-INSUFFICIENT-SCOPE", "the 401 challenge names no scope: nothing to withhold")
		return
	}
	needed := strings.Fields(r.chal.params["scope"])
	supported, _ := stringList(r.prm, "scopes_supported")
	var alt []string
	for _, s := range supported {
		if !contains(needed, s) && s != "offline_access" {
			alt = append(alt, s)
		}
	}
	ts, ev, err := r.tokens(ctx, r.main, func(q url.Values) {
		if len(alt) > 0 {
			q.Set("scope", strings.Join(alt, " "))
		} else {
			q.Del("scope")
		}
	}, nil)
	if err != nil {
		r.skip("CHAL-INSUFFICIENT-SCOPE", "could not obtain a token without the challenged scope: "+err.Error(), ev...)
		return
	}
	granted := strings.Fields(ts.scope)
	if ts.scope != "" {
		all := true
		for _, s := range needed {
			all = all && contains(granted, s)
		}
		if all {
			r.skip("CHAL-INSUFFICIENT-SCOPE", "the authorization server granted the challenged scope although it was not requested", "scope="+ts.scope)
			return
		}
	}
	e := r.mcpPost(ctx, "", ts.access)
	evs := []string{fmt.Sprintf("token with scope=%q: %s", ts.scope, e.line()), e.headerLine("WWW-Authenticate")}
	ch, _ := bearerChallenge(e)
	got := strings.Fields(ch.params["scope"])
	missing := []string{}
	for _, s := range needed {
		if !contains(got, s) {
			missing = append(missing, s)
		}
	}
	switch {
	case accepted(e):
		r.violation("CHAL-INSUFFICIENT-SCOPE", "a token without the challenged scope was accepted (the challenge's scope is not what the request needs)", evs...)
	case e.status != http.StatusForbidden:
		r.violation("CHAL-INSUFFICIENT-SCOPE", fmt.Sprintf("status %d instead of 403", e.status), evs...)
	case ch.params["error"] != "insufficient_scope":
		r.violation("CHAL-INSUFFICIENT-SCOPE", fmt.Sprintf("error=%q instead of insufficient_scope", ch.params["error"]), evs...)
	case len(missing) > 0:
		r.violation("CHAL-INSUFFICIENT-SCOPE", "the 403 challenge's scope lacks "+strings.Join(missing, " "), evs...)
	default:
		r.pass("CHAL-INSUFFICIENT-SCOPE", evs...)
	}
}

// pkce checks PKCE at the authorization and token endpoints.
func (r *runner) pkce(ctx context.Context) {
	if r.main == nil {
		return
	}
	c := r.main
	// RFC 7636 Appendix B.
	g, res := r.getCode(ctx, c, func(q url.Values) { q.Set("code_challenge", rfc7636Challenge) })
	if g == nil {
		r.violation("PKCE-S256", "authorization with the RFC 7636 challenge failed: "+res.summary(), res.evidence...)
	} else {
		g.verifier = rfc7636Verifier
		e, ts := r.redeem(ctx, g, nil)
		r.check("PKCE-S256", ts != nil, "the token request with the RFC 7636 verifier failed", e.withError())
	}

	if g, res := r.getCode(ctx, c, nil); g == nil {
		r.skip("PKCE-WRONG-VERIFIER", "no code: "+res.summary())
	} else {
		e, ts := r.redeem(ctx, g, func(f url.Values) { f.Set("code_verifier", randomString()) })
		code, _ := e.oauthError()
		r.check("PKCE-WRONG-VERIFIER", ts == nil && e.status == http.StatusBadRequest && code == "invalid_grant",
			fmt.Sprintf("status %d error %q instead of 400 invalid_grant", e.status, code), e.withError())
	}

	if g, res := r.getCode(ctx, c, nil); g == nil {
		r.skip("PKCE-MISSING-VERIFIER", "no code: "+res.summary())
	} else {
		e, ts := r.redeem(ctx, g, func(f url.Values) { f.Del("code_verifier") })
		code, _ := e.oauthError()
		r.check("PKCE-MISSING-VERIFIER", ts == nil && e.status == http.StatusBadRequest && (code == "invalid_grant" || code == "invalid_request"),
			fmt.Sprintf("status %d error %q instead of 400 invalid_grant", e.status, code), e.withError())
	}

	// plain.
	plainVerifier := randomString()
	g, res = r.getCode(ctx, c, func(q url.Values) {
		q.Set("code_challenge", plainVerifier)
		q.Set("code_challenge_method", "plain")
	})
	if g == nil {
		r.pass("PKCE-PLAIN-REFUSED", append([]string{res.summary()}, res.evidence...)...)
	} else {
		g.verifier = plainVerifier
		e, ts := r.redeem(ctx, g, nil)
		detail := "a code was issued for code_challenge_method=plain"
		if ts != nil {
			detail += " and redeemed with the plain verifier"
		}
		r.violation("PKCE-PLAIN-REFUSED", detail, append(res.evidence, e.withError())...)
	}

	// No challenge at all, then a verifier anyway (downgrade).
	g, res = r.getCode(ctx, c, func(q url.Values) {
		q.Del("code_challenge")
		q.Del("code_challenge_method")
	})
	if g == nil {
		r.pass("PKCE-MISSING-CHALLENGE", append([]string{res.summary()}, res.evidence...)...)
		r.pass("PKCE-DOWNGRADE", "the authorization request without code_challenge was refused: no code to downgrade")
	} else {
		r.violation("PKCE-MISSING-CHALLENGE", "a code was issued without code_challenge", res.evidence...)
		e, ts := r.redeem(ctx, g, nil)
		r.check("PKCE-DOWNGRADE", ts == nil, "a code issued without code_challenge was redeemed with a code_verifier", e.withError())
	}
}

// redirects checks redirect URI matching and the refusal to redirect to untrusted URIs.
func (r *runner) redirects(ctx context.Context) {
	if r.main == nil {
		return
	}
	c := r.main
	reg, err := url.Parse(c.redirectURI)
	loopback := err == nil && reg.Scheme == "http" && loopback.IsIP(reg.Hostname())
	port := 49152 + int(randomString()[0])%1000
	withPort := func(u *url.URL, p int) *url.URL {
		v := *u
		v.Host = v.Hostname() + ":" + strconv.Itoa(p)
		if strings.Contains(v.Hostname(), ":") {
			v.Host = "[" + v.Hostname() + "]:" + strconv.Itoa(p)
		}
		return &v
	}
	if !loopback {
		r.skip("REDIR-LOOPBACK-PORT", "the client's redirect URI is not on 127.0.0.1 or [::1]", "redirect_uri="+c.redirectURI)
	} else {
		ru := withPort(reg, port).String()
		g, res := r.getCode(ctx, c, func(q url.Values) { q.Set("redirect_uri", ru) })
		r.check("REDIR-LOOPBACK-PORT", g != nil, "the registered loopback redirect URI on another port was refused: "+res.summary(),
			append([]string{"registered " + c.redirectURI + ", requested " + ru}, res.evidence...)...)
	}
	if c.name != "suite client" {
		r.skip("REDIR-LOCALHOST-PORT", "needs the suite's own registered client (with "+localhostRedirect+")")
	} else {
		lu, _ := url.Parse(localhostRedirect)
		ru := withPort(lu, port+1).String()
		g, res := r.getCode(ctx, c, func(q url.Values) { q.Set("redirect_uri", ru) })
		r.check("REDIR-LOCALHOST-PORT", g != nil, "the registered localhost redirect URI on another port was refused: "+res.summary(),
			append([]string{"registered " + localhostRedirect + ", requested " + ru}, res.evidence...)...)
	}

	// Exact matching: other path, extra path segment, extra query parameter.
	if reg != nil && err == nil {
		base := reg
		if loopback {
			base = withPort(reg, port)
		}
		variants := []struct {
			uri  string
			fail func(*authzResult) bool
		}{}
		for _, p := range []string{"/conformance-other", strings.TrimSuffix(reg.Path, "/") + "/extra"} {
			v := *base
			v.Path = p
			variants = append(variants, struct {
				uri  string
				fail func(*authzResult) bool
			}{v.String(), func(a *authzResult) bool { return a.callback != nil }})
		}
		vq := *base
		q := vq.Query()
		q.Set("conformance_extra", "1")
		vq.RawQuery = q.Encode()
		variants = append(variants, struct {
			uri  string
			fail func(*authzResult) bool
		}{vq.String(), func(a *authzResult) bool { return a.callback != nil && a.callback.Get("conformance_extra") == "1" }})
		for _, v := range variants {
			res := r.authorize(ctx, func() url.Values {
				q := r.authParams(c, randomString())
				q.Set("redirect_uri", v.uri)
				return q
			}(), v.uri)
			ev := append([]string{"registered " + c.redirectURI + ", requested " + v.uri + ": " + res.summary()}, res.evidence...)
			r.check("REDIR-EXACT", !v.fail(res), "the authorization server redirected to an unregistered redirect URI", ev...)
		}
	}

	res := r.authorize(ctx, func() url.Values {
		q := r.authParams(c, randomString())
		q.Set("redirect_uri", attackerRedirect)
		return q
	}(), attackerRedirect)
	r.check("REDIR-UNREGISTERED", res.callback == nil, "the authorization server redirected to an unregistered redirect URI",
		append([]string{"requested " + attackerRedirect + ": " + res.summary()}, res.evidence...)...)

	unknown := &testClient{id: "conformance-unknown-client-" + randomString()[:10], authMethod: authNone, redirectURI: attackerRedirect}
	res = r.authorize(ctx, r.authParams(unknown, randomString()), attackerRedirect)
	r.check("REDIR-UNKNOWN-CLIENT", res.callback == nil, "the authorization server redirected for an unknown client",
		append([]string{"client_id=" + unknown.id + ": " + res.summary()}, res.evidence...)...)
}

// resources checks RFC 8707 resource indicators.
func (r *runner) resources(ctx context.Context) {
	if r.main == nil {
		return
	}
	c := r.main

	// Audience of a token for the MCP URL.
	ts := r.fresh(ctx, c, "RES-AUDIENCE")
	if ts != nil {
		decided := false
		if r.t.OtherResource != "" {
			e := r.mcpPost(ctx, r.t.OtherResource, ts.access)
			r.check("RES-AUDIENCE", refused401(e), fmt.Sprintf("the other resource accepted a token bound to the MCP URL (status %d)", e.status), e.line())
			decided = true
		}
		if c, _ := r.introspector(); r.endpoints.introspection != "" && c != nil {
			e := r.introspect(ctx, ts.access, "")
			m := e.object()
			if e.status == http.StatusOK && m != nil && m["active"] == true {
				aud := audience(m["aud"])
				ok := false
				for _, a := range aud {
					ok = ok || sameURL(a, r.mcpURL)
				}
				r.check("RES-AUDIENCE", ok, "the introspected aud does not name the MCP URL", e.line(), fmt.Sprintf("aud=%v", m["aud"]))
				decided = true
			}
		}
		if !decided {
			r.skip("RES-AUDIENCE", "needs introspection by a client allowed to introspect (Target.Introspector) or Target.OtherResource")
		}
	}

	// Uppercase scheme and host.
	if u, err := url.Parse(r.mcpURL); err == nil {
		upper := strings.ToUpper(u.Scheme) + "://" + strings.ToUpper(u.Host) + u.RequestURI()
		if upper == r.mcpURL {
			r.skip("RES-UPPERCASE", "the MCP URL has no lowercase letters in scheme or host")
		} else {
			ts, ev, err := r.tokens(ctx, c, func(q url.Values) { q.Set("resource", upper) }, func(f url.Values) { f.Set("resource", upper) })
			if err != nil {
				r.violation("RES-UPPERCASE", "resource="+upper+": "+err.Error(), ev...)
			} else {
				em := r.mcpPost(ctx, "", ts.access)
				r.check("RES-UPPERCASE", accepted(em), "the token for the uppercase resource is not accepted by the MCP server", "resource="+upper, em.line())
			}
		}
	}

	// Unknown resource and fragment at the authorization endpoint.
	for _, x := range []struct{ id, res string }{{"RES-UNKNOWN", unknownResource}, {"RES-FRAGMENT", r.mcpURL + "#conformance"}} {
		g, res := r.getCode(ctx, c, func(q url.Values) { q.Set("resource", x.res) })
		ev := append([]string{"resource=" + x.res + ": " + res.summary()}, res.evidence...)
		switch {
		case g != nil:
			e, ts := r.redeem(ctx, g, func(f url.Values) { f.Set("resource", x.res) })
			if ts != nil {
				r.violation(x.id, "a token was issued for the resource", append(ev, e.withError())...)
			} else {
				r.violation(x.id, "accepted at the authorization endpoint (refused only at the token endpoint)", append(ev, e.withError())...)
			}
		case res.callback != nil && res.callback.Get("error") == "invalid_target":
			r.pass(x.id, ev...)
		case res.callback != nil:
			r.violation(x.id, fmt.Sprintf("error=%q instead of invalid_target", res.callback.Get("error")), ev...)
		default:
			r.violation(x.id, "refused without an error response to the client (no invalid_target redirect)", ev...)
		}
	}

	// Widening at the token endpoint, then retry.
	widen := unknownResource
	if r.t.OtherResource != "" {
		widen = r.t.OtherResource
	}
	if g, res := r.getCode(ctx, c, nil); g == nil {
		r.skip("RES-WIDEN", "no code: "+res.summary())
		r.skip("RES-RETRYABLE", "no code: "+res.summary())
	} else {
		e, ts := r.redeem(ctx, g, func(f url.Values) { f.Set("resource", widen) })
		code, _ := e.oauthError()
		ev := "token request with resource=" + widen + " for a grant bound to the MCP URL: " + e.withError()
		r.check("RES-WIDEN", ts == nil && e.status == http.StatusBadRequest && code == "invalid_target",
			fmt.Sprintf("status %d error %q instead of 400 invalid_target", e.status, code), ev)
		if ts == nil {
			e2, ts2 := r.redeem(ctx, g, nil)
			r.check("RES-RETRYABLE", ts2 != nil, "the code was consumed by the refused request", ev, "retry: "+e2.withError())
		} else {
			r.skip("RES-RETRYABLE", "the widening request was not refused")
		}
	}

	// Narrowing a two-resource grant.
	if r.t.OtherResource == "" {
		r.skip("RES-NARROW", "set Target.OtherResource to check narrowing")
	} else {
		g, res := r.getCode(ctx, c, func(q url.Values) { q["resource"] = []string{r.mcpURL, r.t.OtherResource} })
		if g == nil {
			r.violation("RES-NARROW", "an authorization request for two resources failed: "+res.summary(), res.evidence...)
		} else {
			e, ts := r.redeem(ctx, g, nil) // resource = the MCP URL
			if ts == nil {
				r.violation("RES-NARROW", "the token request narrowing to the MCP URL failed", e.withError())
			} else {
				em := r.mcpPost(ctx, "", ts.access)
				eo := r.mcpPost(ctx, r.t.OtherResource, ts.access)
				r.check("RES-NARROW", accepted(em) && refused401(eo), "the narrowed token is not bound to the MCP URL alone",
					e.line(), "MCP URL: "+em.line(), "other resource: "+eo.line())
			}
		}
	}

	// A token request without resource.
	if g, res := r.getCode(ctx, c, nil); g == nil {
		r.skip("RES-OMITTED-TOKEN", "no code: "+res.summary())
	} else {
		e, ts := r.redeem(ctx, g, func(f url.Values) { f.Del("resource") })
		if ts == nil {
			r.violation("RES-OMITTED-TOKEN", "the token request without resource failed", e.withError())
		} else {
			em := r.mcpPost(ctx, "", ts.access)
			r.check("RES-OMITTED-TOKEN", accepted(em), "the token is not accepted by the MCP server", e.line(), em.line())
		}
	}
}

// audience returns an aud claim as a list.
func audience(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, e := range a {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// sameURL compares two URLs ignoring the case of scheme and host and one trailing slash.
func sameURL(a, b string) bool {
	norm := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			return s
		}
		u.Scheme = strings.ToLower(u.Scheme)
		u.Host = strings.ToLower(u.Host)
		u.Path = strings.TrimSuffix(u.Path, "/")
		return u.String()
	}
	return norm(a) == norm(b)
}

// issErrors provokes an error authorization response (an unsupported response type)
// so that ISS-ERROR is checked even when every other request succeeded.
func (r *runner) issErrors(ctx context.Context) {
	if r.main == nil {
		return
	}
	q := r.authParams(r.main, randomString())
	q.Set("response_type", "conformance_unsupported")
	res := r.authorize(ctx, q, r.main.redirectURI)
	if res.callback == nil {
		r.skip("ISS-ERROR", "no error response was redirected to the client (unsupported response_type: "+res.summary()+")", res.evidence...)
	}
}

// tokenEndpoint checks the token endpoint's error handling and code rules.
func (r *runner) tokenEndpoint(ctx context.Context) {
	if r.main == nil {
		return
	}
	c := r.main
	type errCase struct {
		name   string
		c      *testClient
		form   url.Values
		want   string
		status []int
	}
	cases := []errCase{
		{"unsupported grant_type", c, url.Values{"grant_type": {"urn:conformance:unsupported-grant"}}, "unsupported_grant_type", []int{400}},
		{"unknown code", c, url.Values{"grant_type": {"authorization_code"}, "code": {"conformance-invalid-code"}, "code_verifier": {randomString()}, "redirect_uri": {c.redirectURI}}, "invalid_grant", []int{400}},
		{"missing code", c, url.Values{"grant_type": {"authorization_code"}, "code_verifier": {randomString()}, "redirect_uri": {c.redirectURI}}, "invalid_request", []int{400}},
		{"unknown client", &testClient{id: "conformance-unknown-client-" + randomString()[:10], authMethod: authNone},
			url.Values{"grant_type": {"authorization_code"}, "code": {"conformance-invalid-code"}, "code_verifier": {randomString()}, "redirect_uri": {c.redirectURI}}, "invalid_client", []int{400, 401}},
	}
	for _, x := range cases {
		e := r.tokenRequest(ctx, x.c, x.form)
		code, _ := e.oauthError()
		ev := x.name + ": " + e.withError()
		okStatus := false
		for _, s := range x.status {
			okStatus = okStatus || e.status == s
		}
		r.check("TOKEN-ERRORS", okStatus && code == x.want && e.isJSON(),
			fmt.Sprintf("%s: status %d error %q instead of %v %s (JSON)", x.name, e.status, code, x.status, x.want), ev)
	}

	// Failed Basic authentication.
	basic := []*testClient{{id: "conformance-unknown-client-" + randomString()[:10], secret: "wrong-secret", authMethod: authBasic}}
	if r.confid != nil {
		basic = append(basic, &testClient{id: r.confid.id, secret: "wrong-" + randomString()[:8], authMethod: authBasic})
	}
	for i, bc := range basic {
		e := r.tokenRequest(ctx, bc, url.Values{"grant_type": {"authorization_code"}, "code": {"conformance-invalid-code"}, "code_verifier": {randomString()}, "redirect_uri": {mainRedirect}})
		name := "unknown client"
		if i > 0 {
			name = "registered client, wrong secret"
		}
		wwwBasic := false
		for _, ch := range parseChallenges(e.header.Values("WWW-Authenticate")) {
			wwwBasic = wwwBasic || strings.EqualFold(ch.scheme, "Basic")
		}
		r.check("TOKEN-BASIC-401", e.status == http.StatusUnauthorized && wwwBasic,
			fmt.Sprintf("%s: status %d, WWW-Authenticate %q", name, e.status, e.header.Get("WWW-Authenticate")),
			"Basic "+name+": "+e.withError(), e.headerLine("WWW-Authenticate"))
	}

	// Code replay.
	if g, res := r.getCode(ctx, c, nil); g == nil {
		r.skip("TOKEN-CODE-REPLAY", "no code: "+res.summary())
	} else {
		e1, ts := r.redeem(ctx, g, nil)
		e2, ts2 := r.redeem(ctx, g, nil)
		code, _ := e2.oauthError()
		r.check("TOKEN-CODE-REPLAY", ts2 == nil && e2.status == http.StatusBadRequest && code == "invalid_grant",
			fmt.Sprintf("second redemption: status %d error %q instead of 400 invalid_grant", e2.status, code), "first: "+e1.line(), "second: "+e2.withError())
		if ts != nil && ts2 == nil {
			em := r.mcpPost(ctx, "", ts.access)
			r.check("TOKEN-CODE-REPLAY-REVOKES", refused401(em), "the access token issued for the replayed code still works", "after the replay: "+em.line())
		} else {
			r.skip("TOKEN-CODE-REPLAY-REVOKES", "no token from the first redemption, or the replay was accepted")
		}
	}

	// redirect_uri mismatch.
	if g, res := r.getCode(ctx, c, nil); g == nil {
		r.skip("TOKEN-REDIRECT-MISMATCH", "no code: "+res.summary())
	} else {
		other := "http://127.0.0.1/conformance-other-callback"
		e, ts := r.redeem(ctx, g, func(f url.Values) { f.Set("redirect_uri", other) })
		code, _ := e.oauthError()
		r.check("TOKEN-REDIRECT-MISMATCH", ts == nil && e.status == http.StatusBadRequest && code == "invalid_grant",
			fmt.Sprintf("status %d error %q instead of 400 invalid_grant", e.status, code), "redirect_uri="+other+": "+e.withError())
	}

	// Another client's code.
	if r.second == nil {
		r.skip("TOKEN-CLIENT-MISMATCH", "needs a second client (dynamic client registration)")
	} else if g, res := r.getCode(ctx, c, nil); g == nil {
		r.skip("TOKEN-CLIENT-MISMATCH", "no code: "+res.summary())
	} else {
		g2 := *g
		g2.c = r.second
		e, ts := r.redeem(ctx, &g2, nil)
		code, _ := e.oauthError()
		r.check("TOKEN-CLIENT-MISMATCH", ts == nil && e.status >= 400 && e.status < 500 && (code == "invalid_grant" || code == "invalid_client"),
			fmt.Sprintf("status %d error %q instead of 400 invalid_grant", e.status, code), "code of "+c.id+" redeemed by "+r.second.id+": "+e.withError())
	}
}

// refresh checks refresh token rotation and reuse detection.
func (r *runner) refresh(ctx context.Context) {
	if r.main == nil {
		return
	}
	ids := []string{"REFRESH-ROTATION", "REFRESH-OLD-INVALID", "REFRESH-REUSE-REVOKES", "RES-REFRESH-KEEPS", "RES-REFRESH-WIDEN"}
	ts := r.fresh(ctx, r.main, ids...)
	if ts == nil {
		return
	}
	if ts.refresh == "" {
		r.skipAll("no refresh token was issued (allowed: clients must not assume one)", ids...)
		return
	}
	// A refresh naming a resource outside the grant: invalid_target, and the refresh
	// token is not rotated by the refused request.
	widen := refreshForm(ts.refresh)
	widen.Set("resource", unknownResource)
	ew := r.tokenRequest(ctx, r.main, widen)
	codeW, _ := ew.oauthError()
	evw := "refresh with resource=" + unknownResource + ": " + ew.withError()
	r.check("RES-REFRESH-WIDEN", ew.status == http.StatusBadRequest && codeW == "invalid_target",
		fmt.Sprintf("status %d error %q instead of 400 invalid_target", ew.status, codeW), evw)
	if ew.status == http.StatusOK {
		if t := r.noteTokenResponse(ew); t != nil {
			r.track(r.main, t)
		}
	}

	e1 := r.tokenRequest(ctx, r.main, refreshForm(ts.refresh))
	if ew.status != http.StatusOK {
		r.check("RES-RETRYABLE", e1.status == http.StatusOK, "the refused refresh rotated or revoked the refresh token", evw, "retry without resource: "+e1.withError())
	}
	if e1.status != http.StatusOK {
		for _, id := range ids {
			r.violation(id, "refreshing failed", "refresh without resource: "+e1.withError())
		}
		return
	}
	ts1 := r.noteTokenResponse(e1)
	if ts1 == nil {
		return
	}
	r.track(r.main, ts1)
	em := r.mcpPost(ctx, "", ts1.access)
	r.check("RES-REFRESH-KEEPS", accepted(em), "the refreshed access token is not accepted by the MCP server", "refresh without resource: "+e1.line(), em.line())

	rotated := ts1.refresh != "" && ts1.refresh != ts.refresh
	switch {
	case rotated:
		r.pass("REFRESH-ROTATION", e1.line())
	case r.main.authMethod != authNone:
		r.warn("REFRESH-ROTATION", "the refresh token was not rotated (required for public clients; this client is confidential)", e1.line())
	default:
		r.violation("REFRESH-ROTATION", "the refresh token was not rotated", e1.line())
	}
	if !rotated {
		r.skipAll("the refresh token was not rotated", "REFRESH-OLD-INVALID", "REFRESH-REUSE-REVOKES")
		return
	}
	// Reuse the rotated-out token. A server with a grace window for concurrent refreshes
	// (bounded reuse of a just-rotated token) accepts a few reuses; strict rotation
	// refuses the first.
	const maxReuses = 5
	var reuses []string
	accepted := 0
	var refusal *exchange
	for i := 0; i < maxReuses && refusal == nil; i++ {
		e := r.tokenRequest(ctx, r.main, refreshForm(ts.refresh))
		reuses = append(reuses, fmt.Sprintf("reuse %d of the rotated-out token: %s", i+1, e.withError()))
		if e.status == http.StatusOK {
			accepted++
			if t := r.noteTokenResponse(e); t != nil {
				r.track(r.main, t)
			}
			continue
		}
		refusal = e
	}
	code := ""
	if refusal != nil {
		code, _ = refusal.oauthError()
	}
	switch {
	case refusal == nil:
		r.violation("REFRESH-OLD-INVALID", fmt.Sprintf("the rotated-out refresh token was accepted %d times in a row", accepted), reuses...)
	case refusal.status != http.StatusBadRequest || code != "invalid_grant":
		r.violation("REFRESH-OLD-INVALID", fmt.Sprintf("reuse: status %d error %q instead of 400 invalid_grant", refusal.status, code), reuses...)
	case accepted > 0:
		r.warn("REFRESH-OLD-INVALID", fmt.Sprintf("accepted %d time(s) before invalid_grant: a grace window for concurrent refreshes (strict OAuth 2.1 rotation refuses the first reuse)", accepted), reuses...)
	default:
		r.pass("REFRESH-OLD-INVALID", reuses...)
	}
	if refusal == nil {
		r.skip("REFRESH-REUSE-REVOKES", "the reuse was never refused")
		return
	}
	if accepted > 0 {
		if r.t.RefreshGraceWait <= 0 {
			r.skip("REFRESH-REUSE-REVOKES", "the server has a grace window for rotated refresh tokens; set Target.RefreshGraceWait (-refresh-grace-wait) to its length to check reuse detection after it")
			return
		}
		select {
		case <-time.After(r.t.RefreshGraceWait):
		case <-ctx.Done():
			return
		}
		e := r.tokenRequest(ctx, r.main, refreshForm(ts.refresh))
		reuses = append(reuses, fmt.Sprintf("reuse after waiting %s: %s", r.t.RefreshGraceWait, e.withError()))
		if e.status == http.StatusOK {
			r.violation("REFRESH-REUSE-REVOKES", "the rotated-out token still works after the grace window", reuses...)
			return
		}
	}
	e3 := r.tokenRequest(ctx, r.main, refreshForm(ts1.refresh))
	r.check("REFRESH-REUSE-REVOKES", e3.status != http.StatusOK, "the current refresh token still works after a reuse of its predecessor",
		append(reuses, "current token after the reuse: "+e3.withError())...)
	if e3.status == http.StatusOK {
		if ts3 := r.noteTokenResponse(e3); ts3 != nil {
			r.track(r.main, ts3)
		}
	}
}

// revoke posts a revocation request as c.
func (r *runner) revoke(ctx context.Context, c *testClient, token, hint string) *exchange {
	f := url.Values{"token": {token}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	return r.clientPost(ctx, r.endpoints.revocation, c, f)
}

// revocation checks RFC 7009.
func (r *runner) revocation(ctx context.Context) {
	if r.main == nil {
		return
	}
	ids := []string{"REVOKE-REFRESH", "REVOKE-ACCESS", "REVOKE-CASCADE", "REVOKE-HINT", "REVOKE-OWNER-ONLY", "REVOKE-UNKNOWN"}
	if r.endpoints.revocation == "" {
		r.skipAll("no revocation_endpoint in the metadata", ids...)
		return
	}
	c := r.main
	e := r.revoke(ctx, c, "conformance-unknown-token-"+randomString(), "")
	r.check("REVOKE-UNKNOWN", e.status == http.StatusOK, fmt.Sprintf("status %d instead of 200", e.status), e.withError())

	// Another client cannot revoke.
	if r.second == nil {
		r.skip("REVOKE-OWNER-ONLY", "needs a second client (dynamic client registration)")
	} else if ts := r.fresh(ctx, c, "REVOKE-OWNER-ONLY"); ts != nil {
		ea := r.revoke(ctx, r.second, ts.access, "")
		ev := []string{"second client revokes the access token: " + ea.withError()}
		if ts.refresh != "" {
			er := r.revoke(ctx, r.second, ts.refresh, "")
			ev = append(ev, "second client revokes the refresh token: "+er.withError())
		}
		em := r.mcpPost(ctx, "", ts.access)
		ev = append(ev, "owner's access token afterwards: "+em.line())
		ok := accepted(em)
		if ts.refresh != "" {
			ef := r.tokenRequest(ctx, c, refreshForm(ts.refresh))
			ev = append(ev, "owner's refresh afterwards: "+ef.withError())
			ok = ok && ef.status == http.StatusOK
			if ef.status == http.StatusOK {
				if t := r.noteTokenResponse(ef); t != nil {
					r.track(c, t)
				}
			}
		}
		r.check("REVOKE-OWNER-ONLY", ok, "another client's revocation request revoked the tokens", ev...)
	}

	// Revoking a refresh token: it stops working, and so do its access tokens.
	if ts := r.fresh(ctx, c, "REVOKE-REFRESH", "REVOKE-CASCADE"); ts != nil {
		if ts.refresh == "" {
			r.skipAll("no refresh token was issued", "REVOKE-REFRESH", "REVOKE-CASCADE")
		} else {
			er := r.revoke(ctx, c, ts.refresh, "refresh_token")
			ef := r.tokenRequest(ctx, c, refreshForm(ts.refresh))
			r.check("REVOKE-REFRESH", er.status == http.StatusOK && ef.status != http.StatusOK, "the revoked refresh token still works",
				"revoke: "+er.withError(), "refresh afterwards: "+ef.withError())
			em := r.mcpPost(ctx, "", ts.access)
			r.check("REVOKE-CASCADE", refused401(em), "the grant's access token still works after its refresh token was revoked", "access token afterwards: "+em.line())
		}
	}

	// Wrong hint.
	if ts := r.fresh(ctx, c, "REVOKE-HINT"); ts != nil {
		if ts.refresh != "" {
			er := r.revoke(ctx, c, ts.refresh, "access_token")
			ef := r.tokenRequest(ctx, c, refreshForm(ts.refresh))
			r.check("REVOKE-HINT", ef.status != http.StatusOK, "a refresh token revoked with token_type_hint=access_token still works",
				"revoke with hint access_token: "+er.withError(), "refresh afterwards: "+ef.withError())
		} else {
			er := r.revoke(ctx, c, ts.access, "refresh_token")
			em := r.mcpPost(ctx, "", ts.access)
			r.check("REVOKE-HINT", refused401(em), "an access token revoked with token_type_hint=refresh_token still works",
				"revoke with hint refresh_token: "+er.withError(), "access token afterwards: "+em.line())
		}
	}

	// Revoking an access token.
	if ts := r.fresh(ctx, c, "REVOKE-ACCESS"); ts != nil {
		er := r.revoke(ctx, c, ts.access, "access_token")
		em := r.mcpPost(ctx, "", ts.access)
		r.check("REVOKE-ACCESS", er.status == http.StatusOK && refused401(em), "the revoked access token still works",
			"revoke: "+er.withError(), "access token afterwards: "+em.line())
	}
}

// introspector returns the client the suite introspects with: Target.Introspector, else
// the pre-registered Target.Client when it is confidential, else the confidential client the
// suite registered itself (selfRegistered), else nil.
func (r *runner) introspector() (c *testClient, selfRegistered bool) {
	if ic := r.t.Introspector; ic != nil {
		c := &testClient{name: "introspector", id: ic.ID, secret: ic.Secret, authMethod: ic.AuthMethod}
		if c.authMethod == "" {
			c.authMethod = authBasic
		}
		return c, false
	}
	if r.confid != nil && r.confid != r.selfConfid {
		return r.confid, false
	}
	return r.selfConfid, r.selfConfid != nil
}

// introspect posts an introspection request as the introspector.
func (r *runner) introspect(ctx context.Context, token, hint string) *exchange {
	c, _ := r.introspector()
	return r.introspectAs(ctx, c, token, hint)
}

// introspectAs posts an introspection request as c.
func (r *runner) introspectAs(ctx context.Context, c *testClient, token, hint string) *exchange {
	f := url.Values{"token": {token}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	return r.clientPost(ctx, r.endpoints.introspection, c, f)
}

// introspection checks RFC 7662.
func (r *runner) introspection(ctx context.Context) {
	if r.main == nil {
		return
	}
	ids := []string{"INTRO-AUTH", "INTRO-ACTIVE", "INTRO-INACTIVE", "INTRO-SELF-REGISTERED"}
	if r.endpoints.introspection == "" {
		r.skipAll("no introspection_endpoint in the metadata (optional for MCP)", ids...)
		return
	}
	e := r.postForm(ctx, r.endpoints.introspection, url.Values{"token": {"conformance-" + randomString()}}, "", "")
	r.check("INTRO-AUTH", e.status == http.StatusUnauthorized || e.status == http.StatusBadRequest || e.status == http.StatusForbidden,
		fmt.Sprintf("status %d without client authentication", e.status), "no client authentication: "+e.withError())
	ts := r.fresh(ctx, r.main, ids[1:]...)
	if ts == nil {
		return
	}

	// A client anyone can register must not learn about other clients' tokens.
	if sc := r.selfConfid; sc == nil {
		r.skip("INTRO-SELF-REGISTERED", "needs a confidential client from dynamic registration")
	} else {
		tokens := []struct{ kind, token string }{{"access token", ts.access}, {"refresh token", ts.refresh}}
		var ev, leaked []string
		for _, tk := range tokens {
			if tk.token == "" {
				continue
			}
			e := r.introspectAs(ctx, sc, tk.token, "")
			m := e.object()
			ev = append(ev, "another client's "+tk.kind+" introspected by the self-registered client "+sc.id+": "+e.line())
			if e.status == http.StatusOK && m != nil && m["active"] == true {
				leaked = append(leaked, tk.kind)
			}
		}
		r.check("INTRO-SELF-REGISTERED", len(leaked) == 0,
			"a client anyone can register introspected another client's "+strings.Join(leaked, " and ")+" as active", ev...)
	}

	c, selfRegistered := r.introspector()
	if c == nil {
		r.skipAll("needs a confidential client allowed to introspect (Target.Introspector, a confidential Target.Client, or dynamic registration)", "INTRO-ACTIVE", "INTRO-INACTIVE")
		return
	}
	ea := r.introspect(ctx, ts.access, "")
	if ea.status == http.StatusUnauthorized || ea.status == http.StatusForbidden {
		switch {
		case r.t.Introspector != nil:
			r.violation("INTRO-ACTIVE", fmt.Sprintf("Target.Introspector was refused (status %d)", ea.status), ea.withError())
			r.skip("INTRO-INACTIVE", "Target.Introspector was refused: "+ea.withError())
		case selfRegistered:
			r.skipAll("the server does not let the suite's self-registered client introspect (as it should, see INTRO-SELF-REGISTERED); "+
				"give Target.Introspector (-introspect-client-id, -introspect-client-secret), a client allowed to introspect, to check introspection: "+ea.withError(),
				"INTRO-ACTIVE", "INTRO-INACTIVE")
		default:
			r.skipAll("the pre-registered client may not introspect; give Target.Introspector (-introspect-client-id, -introspect-client-secret): "+ea.withError(),
				"INTRO-ACTIVE", "INTRO-INACTIVE")
		}
		return
	}
	m := ea.object()
	r.check("INTRO-ACTIVE", ea.status == http.StatusOK && m != nil && m["active"] == true &&
		(m["client_id"] == nil || m["client_id"] == r.main.id),
		fmt.Sprintf("active=%v client_id=%v", m["active"], m["client_id"]), ea.line())

	eu := r.introspect(ctx, "conformance-unknown-"+randomString(), "")
	mu := eu.object()
	r.check("INTRO-INACTIVE", eu.status == http.StatusOK && mu != nil && mu["active"] == false,
		fmt.Sprintf("unknown token: status %d active=%v", eu.status, mu["active"]), "unknown token: "+eu.line())
	if r.endpoints.revocation != "" {
		r.revoke(ctx, r.main, ts.access, "")
		er := r.introspect(ctx, ts.access, "")
		mr := er.object()
		r.check("INTRO-INACTIVE", er.status == http.StatusOK && mr != nil && mr["active"] == false,
			fmt.Sprintf("revoked token: status %d active=%v", er.status, mr["active"]), "revoked access token: "+er.line())
	}
}

// concurrency redeems one code from many goroutines at once.
func (r *runner) concurrency(ctx context.Context) {
	if r.main == nil {
		return
	}
	g, res := r.getCode(ctx, r.main, nil)
	if g == nil {
		r.skip("CONC-CODE-ONCE", "no code: "+res.summary())
		return
	}
	n := r.t.Concurrency
	results := make([]*exchange, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i] = r.tokenRequest(ctx, g.c, r.redeemForm(g))
		}(i)
	}
	close(start)
	wg.Wait()
	okCount := 0
	statuses := map[string]int{}
	for _, e := range results {
		code, _ := e.oauthError()
		key := strconv.Itoa(e.status)
		if code != "" {
			key += " " + code
		}
		if e.err != nil {
			key = "error"
		}
		statuses[key]++
		if e.status == http.StatusOK {
			okCount++
			if ts := r.noteTokenResponse(e); ts != nil {
				r.track(g.c, ts)
			}
		}
	}
	ev := fmt.Sprintf("%d parallel redemptions of one code: %v", n, statuses)
	r.check("CONC-CODE-ONCE", okCount == 1, fmt.Sprintf("%d token responses instead of exactly 1", okCount), ev)
}
