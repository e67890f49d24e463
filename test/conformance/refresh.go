package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

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

// refreshScope checks the scope parameter of a refresh request (RFC 6749 §6): a scope
// not originally granted is refused with invalid_scope, without consuming the refresh
// token, and a narrower scope yields an access token of that scope.
func (r *runner) refreshScope(ctx context.Context) {
	if r.main == nil {
		return
	}
	ids := []string{"REFRESH-SCOPE-WIDEN", "REFRESH-SCOPE-NARROW"}
	// Ask for every scope the MCP server lists, so that there is something to narrow.
	supported, _ := stringList(r.prm, "scopes_supported")
	ts, ev, err := r.tokens(ctx, r.main, func(q url.Values) {
		if len(supported) > 1 {
			q.Set("scope", strings.Join(supported, " "))
		}
	}, nil)
	if err != nil {
		for _, id := range ids {
			r.skip(id, "the authorization code flow failed: "+err.Error(), ev...)
		}
		return
	}
	if ts.refresh == "" {
		r.skipAll("no refresh token was issued (allowed: clients must not assume one)", ids...)
		return
	}
	r.track(r.main, ts)
	granted := strings.Fields(ts.scope)

	const notGranted = "conformance:not-granted"
	widen := refreshForm(ts.refresh)
	widen.Set("scope", strings.Join(append(append([]string{}, granted...), notGranted), " "))
	ew := r.tokenRequest(ctx, r.main, widen)
	code, _ := ew.oauthError()
	evw := "refresh with scope=" + widen.Get("scope") + ": " + ew.withError()
	if ew.status == http.StatusOK {
		if t := r.noteTokenResponse(ew); t != nil {
			r.track(r.main, t)
			ts = t
		}
	}
	r.check("REFRESH-SCOPE-WIDEN", ew.status == http.StatusBadRequest && code == "invalid_scope",
		fmt.Sprintf("status %d error %q instead of 400 invalid_scope", ew.status, code), evw)

	if len(granted) < 2 {
		r.skip("REFRESH-SCOPE-NARROW", fmt.Sprintf("the grant has %d scope(s) (%q): nothing to narrow", len(granted), ts.scope))
		return
	}
	narrow := refreshForm(ts.refresh)
	narrow.Set("scope", granted[0])
	en := r.tokenRequest(ctx, r.main, narrow)
	evn := "refresh with scope=" + granted[0] + " of granted " + strings.Join(granted, " ") + ": " + en.withError()
	if en.status != http.StatusOK {
		r.violation("REFRESH-SCOPE-NARROW", fmt.Sprintf("status %d instead of 200", en.status), evn)
		return
	}
	tn := r.noteTokenResponse(en)
	if tn == nil {
		r.violation("REFRESH-SCOPE-NARROW", "the token response is not usable", evn)
		return
	}
	r.track(r.main, tn)
	// RFC 6749 §5.1: scope may be omitted when it equals the requested scope; §3.3: a
	// server that issues another scope must say so.
	switch issued := strings.Fields(tn.scope); {
	case len(issued) == 0 || (len(issued) == 1 && issued[0] == granted[0]):
		r.pass("REFRESH-SCOPE-NARROW", evn)
	default:
		r.warn("REFRESH-SCOPE-NARROW", "the narrower scope was ignored (allowed by RFC 6749 §3.3, but the client asked for less privilege)", evn)
	}
}
