package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

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
