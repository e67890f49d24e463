package conformance

import (
	"context"
	"fmt"
	"net/http"
)

// revoke posts a revocation request as c.
func (r *runner) revoke(ctx context.Context, c *testClient, token, hint string) *exchange {
	return r.tokenPost(ctx, r.endpoints.revocation, c, token, hint)
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
