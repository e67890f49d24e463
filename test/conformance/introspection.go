package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

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
	return r.tokenPost(ctx, r.endpoints.introspection, c, token, hint)
}

// tokenPost posts token (with token_type_hint when hint is set) to endpoint as c: the
// request form RFC 7662 §2.1 and RFC 7009 §2.1 share.
func (r *runner) tokenPost(ctx context.Context, endpoint string, c *testClient, token, hint string) *exchange {
	f := url.Values{"token": {token}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	return r.clientPost(ctx, endpoint, c, f)
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
