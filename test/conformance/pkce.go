package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// RFC 7636 Appendix B test vector.
const (
	rfc7636Verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7636Challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

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
