package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

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
