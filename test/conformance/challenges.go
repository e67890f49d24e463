package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

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
