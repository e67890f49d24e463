package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Redirect URIs the suite registers. The suite never listens on them: it reads the
// authorization response from the Location header.
const (
	mainRedirect      = "http://127.0.0.1/callback"
	localhostRedirect = "http://localhost/callback"
	// insecureRedirect is a plain-http redirect URI on a non-loopback host.
	insecureRedirect = "http://conformance.invalid/callback"
)

// register posts a registration request and returns the exchange and, on 201, the
// client it created (remembered for deletion).
func (r *runner) register(ctx context.Context, name string, body any) (*exchange, *testClient) {
	raw, err := json.Marshal(body)
	if err != nil {
		return &exchange{err: err}, nil
	}
	return r.registerRaw(ctx, name, raw)
}

func (r *runner) registerRaw(ctx context.Context, name string, raw []byte) (*exchange, *testClient) {
	e := r.postJSON(ctx, r.endpoints.registration, raw)
	if e.err != nil || e.status != http.StatusCreated {
		return e, nil
	}
	nulls := nullMembers(e.body)
	r.check("REG-DCR-NO-NULL", len(nulls) == 0, "null members: "+strings.Join(nulls, ", "), name+": "+e.line())
	m := e.object()
	if m == nil {
		return e, nil
	}
	c := &testClient{
		name:       name,
		id:         str(m, "client_id"),
		secret:     str(m, "client_secret"),
		authMethod: str(m, "token_endpoint_auth_method"),
		regURI:     str(m, "registration_client_uri"),
		regToken:   str(m, "registration_access_token"),
	}
	if c.authMethod == "" {
		c.authMethod = authBasic // RFC 7591 §2 default
	}
	if uris, _ := stringList(m, "redirect_uris"); len(uris) > 0 {
		c.redirectURI = uris[0]
	}
	if c.id != "" {
		r.registered = append(r.registered, c)
	}
	return e, c
}

// registration checks client registration (CIMD flag, DCR) and sets up the clients
// the flows use.
func (r *runner) registration(ctx context.Context) {
	if r.asm == nil {
		return
	}
	// Client ID metadata documents.
	cimd := r.asm["client_id_metadata_document_supported"] == true
	r.check("REG-CIMD", cimd, "client_id_metadata_document_supported is not true",
		fmt.Sprintf("client_id_metadata_document_supported=%v", r.asm["client_id_metadata_document_supported"]))

	// Pre-registered client.
	if pc := r.t.Client; pc != nil {
		c := &testClient{name: "pre-registered", id: pc.ID, secret: pc.Secret, authMethod: pc.AuthMethod, redirectURI: pc.RedirectURI}
		if c.authMethod == "" {
			c.authMethod = authNone
			if c.secret != "" {
				c.authMethod = authBasic
			}
		}
		r.main = c
		if c.secret != "" {
			r.confid = c
		}
	}

	if r.endpoints.registration == "" {
		r.skipAll("no registration_endpoint in the metadata", "REG-DCR-MINIMAL", "REG-DCR-GOSDK", "REG-DCR-MCPGO", "REG-DCR-TSSDK",
			"REG-DCR-REJECT-REDIRECT", "REG-DCR-REJECT-METADATA", "REG-DCR-REJECT-JSON", "REG-DCR-NO-NULL")
	} else {
		r.dcr(ctx)
	}
	if r.main == nil {
		r.log.Info("conformance: no client for the authorization flows")
		return
	}
	if cimd {
		r.cimdEnforced(ctx)
	} else {
		r.skip("REG-CIMD-ENFORCED", "client ID metadata documents are not advertised")
	}
}

// dcr checks dynamic client registration and registers the suite's clients.
func (r *runner) dcr(ctx context.Context) {
	scope := strings.Join(r.scopes, " ")
	withScope := func(m map[string]any) map[string]any {
		if scope != "" {
			m["scope"] = scope
		}
		return m
	}

	// The suite's own public clients. They register every scope the resource offers (not
	// only the challenged ones) so that a later authorization may ask for other scopes
	// (the insufficient-scope check).
	all := append([]string{}, r.scopes...)
	supported, _ := stringList(r.prm, "scopes_supported")
	for _, s := range supported {
		if !contains(all, s) {
			all = append(all, s)
		}
	}
	suiteBody := func(name string) map[string]any {
		m := map[string]any{
			"client_name":                name,
			"redirect_uris":              []string{mainRedirect, localhostRedirect},
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"response_types":             []string{"code"},
			"token_endpoint_auth_method": authNone,
			"application_type":           "native",
		}
		if len(all) > 0 {
			m["scope"] = strings.Join(all, " ")
		}
		return m
	}
	if r.main == nil {
		e, c := r.register(ctx, "suite client", suiteBody("mcp-auth-conformance"))
		if c == nil || c.id == "" {
			r.log.Info("conformance: registering the suite's client failed", "evidence", e.withError())
		} else {
			c.redirectURI = mainRedirect
			r.main = c
		}
	}
	if _, c := r.register(ctx, "second suite client", suiteBody("mcp-auth-conformance (second client)")); c != nil && c.id != "" {
		c.redirectURI = mainRedirect
		r.second = c
	}

	// Minimal request: RFC 7591 defaults apply (client_secret_basic, authorization_code).
	e, c := r.register(ctx, "minimal", map[string]any{"redirect_uris": []string{mainRedirect}})
	ev := []string{`{"redirect_uris":["` + mainRedirect + `"]}: ` + e.withError()}
	switch {
	case e.status != http.StatusCreated:
		r.violation("REG-DCR-MINIMAL", fmt.Sprintf("status %d instead of 201", e.status), ev...)
	case !e.isJSON():
		r.violation("REG-DCR-MINIMAL", "response not application/json", ev...)
	case c == nil || c.id == "":
		r.violation("REG-DCR-MINIMAL", "no client_id in the response", ev...)
	default:
		m := e.object()
		var problems []string
		if uris, _ := stringList(m, "redirect_uris"); !contains(uris, mainRedirect) {
			problems = append(problems, "redirect_uris not echoed (RFC 7591 §3.2.1: all registered metadata)")
		}
		method := str(m, "token_endpoint_auth_method")
		ev = append(ev, fmt.Sprintf("token_endpoint_auth_method=%q grant_types=%v response_types=%v client_secret present=%v",
			method, m["grant_types"], m["response_types"], c.secret != ""))
		if method != authNone && c.secret == "" {
			problems = append(problems, "a confidential client ("+c.authMethod+") got no client_secret")
		}
		if gt, present := stringList(m, "grant_types"); present && !contains(gt, "authorization_code") {
			problems = append(problems, "grant_types lacks the default authorization_code")
		}
		if len(problems) > 0 {
			r.violation("REG-DCR-MINIMAL", strings.Join(problems, "; "), ev...)
		} else {
			r.pass("REG-DCR-MINIMAL", ev...)
		}
		if c.secret != "" && (c.authMethod == authBasic || c.authMethod == authPost) {
			c.redirectURI = mainRedirect
			r.selfConfid = c
			if r.confid == nil {
				r.confid = c
			}
		}
	}

	// Real clients' registration requests.
	bodies := []struct {
		id   string
		body map[string]any
	}{
		// go-sdk examples/auth/client with application_type inferred from the loopback
		// redirect URI (no token_endpoint_auth_method: RFC 7591 default).
		{"REG-DCR-GOSDK", withScope(map[string]any{
			"client_name":      "Dynamically registered MCP client",
			"redirect_uris":    []string{"http://localhost:3142"},
			"application_type": "native",
		})},
		// mcp-go v1.2.1 OAuthHandler.RegisterClient: carries the RFC 8707 resource.
		{"REG-DCR-MCPGO", map[string]any{
			"client_name":                "mcp-go client",
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"redirect_uris":              []string{"http://localhost:8085/oauth/callback"},
			"resource":                   r.mcpURL,
			"response_types":             []string{"code"},
			"scope":                      "",
			"token_endpoint_auth_method": authNone,
		}},
		// TypeScript SDK (simpleOAuthClient example).
		{"REG-DCR-TSSDK", withScope(map[string]any{
			"client_name":                "Simple OAuth MCP Client",
			"redirect_uris":              []string{"http://localhost:8090/callback"},
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"response_types":             []string{"code"},
			"token_endpoint_auth_method": authPost,
		})},
	}
	for _, b := range bodies {
		e, c := r.register(ctx, b.id, b.body)
		raw, _ := json.Marshal(b.body)
		ev := []string{string(raw) + ": " + e.withError()}
		r.check(b.id, e.status == http.StatusCreated && c != nil && c.id != "", fmt.Sprintf("status %d instead of 201 with a client_id", e.status), ev...)
	}

	// Invalid inputs.
	rejects := []struct {
		id       string
		body     map[string]any
		wantCode string
		field    string
		bad      string
	}{
		{"REG-DCR-REJECT-REDIRECT", map[string]any{"redirect_uris": []string{mainRedirect + "#fragment"}, "token_endpoint_auth_method": authNone},
			"invalid_redirect_uri", "redirect_uris", mainRedirect + "#fragment"},
		{"REG-DCR-REJECT-REDIRECT", map[string]any{"redirect_uris": []string{"javascript:alert(1)//"}, "token_endpoint_auth_method": authNone},
			"invalid_redirect_uri", "redirect_uris", "javascript:alert(1)//"},
		{"REG-DCR-REJECT-REDIRECT", map[string]any{"redirect_uris": []string{"data:text/html,<script>alert(1)</script>"}, "token_endpoint_auth_method": authNone},
			"invalid_redirect_uri", "redirect_uris", "data:text/html,<script>alert(1)</script>"},
		{"REG-DCR-REJECT-REDIRECT", map[string]any{"redirect_uris": []string{"vbscript:msgbox(1)"}, "token_endpoint_auth_method": authNone},
			"invalid_redirect_uri", "redirect_uris", "vbscript:msgbox(1)"},
		{"REG-DCR-REJECT-METADATA", map[string]any{"redirect_uris": []string{mainRedirect}, "token_endpoint_auth_method": "conformance_unknown_method"},
			"invalid_client_metadata", "token_endpoint_auth_method", "conformance_unknown_method"},
		{"REG-DCR-REJECT-METADATA", map[string]any{"redirect_uris": []string{mainRedirect}, "token_endpoint_auth_method": authNone, "grant_types": []string{"urn:conformance:unsupported-grant"}},
			"invalid_client_metadata", "grant_types", "urn:conformance:unsupported-grant"},
		{"REG-DCR-REJECT-METADATA", map[string]any{"redirect_uris": []string{mainRedirect}, "token_endpoint_auth_method": authNone, "client_uri": "javascript:alert(1)//"},
			"invalid_client_metadata", "client_uri", "javascript:alert(1)//"},
	}
	for _, x := range rejects {
		e, _ := r.register(ctx, x.id, x.body)
		raw, _ := json.Marshal(x.body)
		ev := string(raw) + ": " + e.withError()
		code, _ := e.oauthError()
		switch {
		case e.status == http.StatusBadRequest && code == x.wantCode:
			r.pass(x.id, ev)
		case e.status == http.StatusBadRequest:
			r.violation(x.id, fmt.Sprintf("error %q instead of %q", code, x.wantCode), ev)
		case e.status == http.StatusCreated && echoes(e.object(), x.field, x.bad):
			r.violation(x.id, fmt.Sprintf("registered with %s %q", x.field, x.bad), ev)
		case e.status == http.StatusCreated:
			r.pass(x.id, ev+" (the value was replaced, RFC 7591 §3.2.1)")
		default:
			r.violation(x.id, fmt.Sprintf("status %d instead of 400 %s", e.status, x.wantCode), ev)
		}
	}
	for _, raw := range []string{`{"redirect_uris":`, `["` + mainRedirect + `"]`} {
		e, _ := r.registerRaw(ctx, "REG-DCR-REJECT-JSON", []byte(raw))
		code, _ := e.oauthError()
		ev := raw + ": " + e.withError()
		r.check("REG-DCR-REJECT-JSON", e.status == http.StatusBadRequest && (code == "invalid_client_metadata" || code == "invalid_request"),
			fmt.Sprintf("status %d error %q instead of 400 invalid_client_metadata", e.status, code), ev)
	}

	// A plain-http redirect URI on a non-loopback host: refused here, or at authorization.
	e, c = r.register(ctx, "insecure redirect", map[string]any{"redirect_uris": []string{insecureRedirect}, "token_endpoint_auth_method": authNone})
	ev = []string{"registration with " + insecureRedirect + ": " + e.withError()}
	switch {
	case e.status == http.StatusBadRequest:
		r.pass("REDIR-HTTP-LOOPBACK-ONLY", ev...)
	case c != nil && c.id != "" && echoes(e.object(), "redirect_uris", insecureRedirect):
		// Registered: it must at least never be redirected to.
		c.redirectURI = insecureRedirect
		res := r.authorize(ctx, r.authParams(c, randomString()), insecureRedirect)
		ev = append(ev, res.evidence...)
		r.check("REDIR-HTTP-LOOPBACK-ONLY", res.callback == nil, "the authorization server redirects to a plain-http non-loopback redirect URI", ev...)
	default:
		r.violation("REDIR-HTTP-LOOPBACK-ONLY", fmt.Sprintf("unexpected status %d", e.status), ev...)
	}
	r.skip("REG-DCR-NO-NULL", "no registration succeeded")
}

// echoes reports whether the registration response m has bad in field (a string or an
// array of strings).
func echoes(m map[string]any, field, bad string) bool {
	if m == nil {
		return false
	}
	if s, ok := m[field].(string); ok {
		return s == bad
	}
	list, _ := stringList(m, field)
	return contains(list, bad)
}

// cimdEnforced checks that URL client IDs are validated: an unfetchable document and a
// non-https URL are refused without redirect.
func (r *runner) cimdEnforced(ctx context.Context) {
	for _, id := range []string{"https://conformance.invalid/client-metadata.json", "http://conformance.invalid/client-metadata.json"} {
		c := &testClient{id: id, authMethod: authNone, redirectURI: "http://127.0.0.1:43817/callback"}
		res := r.authorize(ctx, r.authParams(c, randomString()), c.redirectURI)
		ev := append([]string{"client_id=" + id + ": " + res.summary()}, res.evidence...)
		r.check("REG-CIMD-ENFORCED", res.callback == nil, "the authorization server redirected for a client whose metadata document cannot be valid", ev...)
	}
}
