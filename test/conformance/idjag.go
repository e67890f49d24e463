package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/test/internal/testidp"
)

// jwtBearerGrant is the RFC 7523 §2.1 grant type ID-JAGs are presented with.
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// idJAGProfile is the authorization grant profile of ID-JAGs (draft §7.2).
const idJAGProfile = "urn:ietf:params:oauth:grant-profile:id-jag"

// IDJAGIssuer is an enterprise identity provider the authorization server under test
// trusts, whose signing key the suite holds, so that it can sign Identity Assertion JWT
// Authorization Grants (Enterprise-Managed Authorization) of its own: valid ones and
// each kind of bad one. go run ./test/cmd/testidp -key-out FILE writes such a key and
// serves its JWKS.
type IDJAGIssuer struct {
	// Issuer is the IdP's issuer identifier, as the server trusts it.
	Issuer string
	// KeyPEM is the IdP's P-256 private key (PKCS#8 or SEC 1 PEM); its kid is derived
	// from the public key as test/internal/testidp derives it.
	KeyPEM []byte
}

// idjagChecks are the Enterprise-Managed Authorization checks, skipped together without
// Target.IDJAG.
var idjagChecks = []string{
	"IDJAG-META", "IDJAG-ACCEPT", "IDJAG-REPLAY", "IDJAG-TYP", "IDJAG-AUD", "IDJAG-EXPIRED", "IDJAG-CLIENT",
	"IDJAG-RESOURCE", "IDJAG-SCOPE", "IDJAG-ALG-NONE", "IDJAG-HS256",
}

// IDJAGNotConfigured starts the Detail of the IDJAG-* checks skipped for want of
// Target.IDJAG.
const IDJAGNotConfigured = "not configured: no trusted IdP signing key (Target.IDJAG"

// idjag checks the JWT bearer grant with ID-JAGs signed by Target.IDJAG for the suite's
// main client: metadata, a valid assertion exchanged and used at the MCP endpoint, its
// replay, and one refusal per bad assertion (invalid_grant, no token).
func (r *runner) idjag(ctx context.Context) {
	if r.t.IDJAG == nil {
		r.skipAll(IDJAGNotConfigured+", -idjag-issuer and -idjag-key)", idjagChecks...)
		return
	}
	if r.asm == nil || r.endpoints.token == "" {
		r.skipAll("no authorization server metadata", idjagChecks...)
		return
	}
	idp, err := testidp.FromPEM(r.t.IDJAG.Issuer, r.t.IDJAG.KeyPEM)
	if err != nil {
		r.skipAll("the ID-JAG signing key is unusable: "+err.Error(), idjagChecks...)
		return
	}
	grants, _ := stringList(r.asm, "grant_types_supported")
	profiles, _ := stringList(r.asm, "authorization_grant_profiles_supported")
	r.check("IDJAG-META", contains(grants, jwtBearerGrant) && contains(profiles, idJAGProfile),
		"grant_types_supported lacks "+jwtBearerGrant+" or authorization_grant_profiles_supported lacks "+idJAGProfile,
		"grant_types_supported: "+strings.Join(grants, " "), "authorization_grant_profiles_supported: "+strings.Join(profiles, " "))
	if r.main == nil {
		r.skipAll("no client: the server offers no dynamic client registration and no pre-registered client was configured", idjagChecks[1:]...)
		return
	}
	// RFC 6749 §5.2: only a client registered for the jwt-bearer grant may use it. With
	// dynamic registration, a client of its own; else the pre-registered one (which the
	// operator must have registered for it).
	c := r.main
	if r.endpoints.registration != "" {
		if _, rc := r.register(ctx, "idjag", map[string]any{
			"client_name": "conformance ID-JAG client", "token_endpoint_auth_method": "none",
			"grant_types": []string{jwtBearerGrant},
		}); rc != nil && rc.id != "" {
			c = rc
		}
	}
	scope := strings.Join(r.scopes, " ")
	claims := func() map[string]any {
		return idp.Claims(testidp.Grant{Audience: r.issuer, Subject: "conformance-user", ClientID: c.id, Resource: r.mcpURL, Scope: scope})
	}
	sign := func(m map[string]any, h testidp.Header) string {
		s, err := idp.Sign(m, h)
		if err != nil {
			return "unsignable"
		}
		return s
	}
	exchangeWith := func(assertion string, extra url.Values) *exchange {
		form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
		for k, v := range extra {
			form[k] = v
		}
		return r.tokenRequest(ctx, c, form)
	}

	valid := sign(claims(), testidp.Header{})
	e := exchangeWith(valid, nil)
	if e.err != nil || e.status != http.StatusOK {
		r.violation("IDJAG-ACCEPT", "a valid ID-JAG was refused: "+e.withError(), e.line())
		r.skipAll("no valid exchange to replay", "IDJAG-REPLAY")
	} else if ts := r.noteTokenResponse(e); ts == nil {
		r.violation("IDJAG-ACCEPT", "no access token in the response", e.line())
	} else {
		r.track(c, ts)
		m := r.mcpPost(ctx, "", ts.access)
		r.check("IDJAG-ACCEPT", accepted(m), fmt.Sprintf("the MCP endpoint answered %d to the token", m.status), e.line(), m.line())
		again := exchangeWith(valid, nil)
		code, _ := again.oauthError()
		r.check("IDJAG-REPLAY", again.status == http.StatusBadRequest && code == "invalid_grant",
			fmt.Sprintf("a replayed jti got %d %s, want 400 invalid_grant", again.status, code), again.line())
	}

	refused := func(id, what, assertion string, extra url.Values, codes ...string) {
		e := exchangeWith(assertion, extra)
		code, _ := e.oauthError()
		if len(codes) == 0 {
			codes = []string{"invalid_grant"}
		}
		r.check(id, e.status == http.StatusBadRequest && slices.Contains(codes, code),
			fmt.Sprintf("%s got %d %s, want 400 %s", what, e.status, code, strings.Join(codes, " or ")), e.line())
	}
	edit := func(f func(m map[string]any)) map[string]any {
		m := claims()
		f(m)
		return m
	}
	refused("IDJAG-TYP", "typ JWT", sign(claims(), testidp.Header{Typ: "JWT"}), nil)
	refused("IDJAG-AUD", "another aud", sign(edit(func(m map[string]any) { m["aud"] = "https://other-as.invalid" }), testidp.Header{}), nil)
	refused("IDJAG-EXPIRED", "an expired assertion", sign(edit(func(m map[string]any) {
		m["iat"], m["exp"] = time.Now().Add(-20*time.Minute).Unix(), time.Now().Add(-15*time.Minute).Unix()
	}), testidp.Header{}), nil)
	refused("IDJAG-CLIENT", "client_id of another client", sign(edit(func(m map[string]any) { m["client_id"] = c.id + "-other" }), testidp.Header{}), nil)
	refused("IDJAG-RESOURCE", "a resource the server does not serve",
		sign(edit(func(m map[string]any) { m["resource"] = "https://elsewhere.invalid/mcp" }), testidp.Header{}), nil)
	refused("IDJAG-ALG-NONE", "alg none", idp.Unsigned(claims()), nil)
	refused("IDJAG-HS256", "HS256 keyed with the IdP's public key", idp.HS256WithPublicKey(claims(), false), nil)

	// Scope escalation: the ID-JAG grants at most the first flow scope; the request adds
	// another scope, which must not be issued (extension §7.2.1).
	var granted []string
	if len(r.scopes) > 0 {
		granted = r.scopes[:1]
	}
	extra := "conformance-escalation"
	if supported, _ := stringList(r.prm, "scopes_supported"); len(supported) > 0 {
		for _, s := range supported {
			if !slices.Contains(granted, s) {
				extra = s
				break
			}
		}
	}
	m := claims()
	delete(m, "scope")
	if len(granted) > 0 {
		m["scope"] = strings.Join(granted, " ")
	}
	requested := append(slices.Clone(granted), extra)
	se := exchangeWith(sign(m, testidp.Header{}), url.Values{"scope": {strings.Join(requested, " ")}})
	code, _ := se.oauthError()
	if se.status != http.StatusOK {
		r.check("IDJAG-SCOPE", se.status == http.StatusBadRequest && (code == "invalid_scope" || code == "invalid_grant"),
			fmt.Sprintf("scope escalation got %d %s, want narrowing or 400 invalid_scope", se.status, code), se.line())
		return
	}
	ts := r.noteTokenResponse(se)
	if ts == nil {
		r.violation("IDJAG-SCOPE", "no access token in the response", se.line())
		return
	}
	r.track(c, ts)
	issued := strings.Fields(ts.scope)
	if ts.scope == "" {
		issued = requested // RFC 6749 §5.1: scope omitted means as requested
	}
	r.check("IDJAG-SCOPE", !slices.Contains(issued, extra),
		fmt.Sprintf("the token has scope %q although the ID-JAG grants only %q", strings.Join(issued, " "), strings.Join(granted, " ")), se.line())
}
