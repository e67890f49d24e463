package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// initializeBody is the MCP request the suite sends to probe the MCP endpoint: an
// initialize request, which every MCP server answers and which changes nothing.
const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcp-auth-conformance","version":"1.0.0"}}}`

// probeOrigin is the Origin sent where CORS behaviour is checked. It never resolves.
const probeOrigin = "https://conformance.invalid"

// mcpPost sends an initialize request to target (default the MCP URL) with token in the
// Authorization header (none when empty) and extra headers.
func (r *runner) mcpPost(ctx context.Context, target, token string, hdr ...string) *exchange {
	if target == "" {
		target = r.mcpURL
	}
	h := append([]string{"Accept", "application/json, text/event-stream", "MCP-Protocol-Version", "2025-06-18"}, hdr...)
	if token != "" {
		h = append(h, "Authorization", "Bearer "+token)
	}
	e := r.postJSON(ctx, target, []byte(initializeBody), h...)
	if token != "" && e.status >= 200 && e.status < 300 {
		// Close the session the initialize opened (our own session).
		if sid := e.header.Get("Mcp-Session-Id"); sid != "" {
			if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, target, nil); err == nil {
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Mcp-Session-Id", sid)
				req.Header.Set("MCP-Protocol-Version", "2025-06-18")
				r.send(req)
			}
		}
	}
	return e
}

// accepted reports whether the MCP server accepted a request (2xx).
func accepted(e *exchange) bool { return e.err == nil && e.status >= 200 && e.status < 300 }

// discover runs the discovery chain: 401 challenge, protected resource metadata,
// authorization server metadata.
func (r *runner) discover(ctx context.Context) {
	mcpU, err := url.Parse(r.mcpURL)
	if err != nil || !mcpU.IsAbs() || mcpU.Host == "" {
		r.violation("CHAL-401", fmt.Sprintf("the MCP URL %q is not an absolute URL", r.mcpURL))
		r.violation("PRM-DISCOVERY", "no MCP URL")
		r.violation("AS-META-DISCOVERY", "no MCP URL")
		return
	}

	// 1. The challenge.
	e := r.mcpPost(ctx, "", "")
	ev := []string{e.line(), e.headerLine("WWW-Authenticate")}
	ch, hasBearer := bearerChallenge(e)
	switch {
	case e.err != nil:
		r.violation("CHAL-401", "the MCP endpoint could not be reached", ev...)
	case e.status != http.StatusUnauthorized:
		r.violation("CHAL-401", fmt.Sprintf("status %d instead of 401 for a request without a token", e.status), ev...)
	case !hasBearer:
		r.violation("CHAL-401", "401 without a Bearer WWW-Authenticate challenge", ev...)
	default:
		r.pass("CHAL-401", ev...)
		r.chal = &ch
	}
	if r.chal != nil {
		rm := ch.params["resource_metadata"]
		r.check("CHAL-RESOURCE-METADATA", rm != "", "the challenge has no resource_metadata parameter", ev...)
		scope := ch.params["scope"]
		r.check("CHAL-SCOPE", scope != "", "the challenge has no scope parameter", ev...)
		r.check("CHAL-NO-OFFLINE", !contains(strings.Fields(scope), "offline_access"), "the challenge asks for offline_access", ev...)
	} else {
		r.skipAll("no 401 challenge", "CHAL-RESOURCE-METADATA", "CHAL-SCOPE", "CHAL-NO-OFFLINE")
	}
	// CORS exposure of the challenge, probed with an Origin header.
	if e.status == http.StatusUnauthorized {
		eo := r.mcpPost(ctx, "", "", "Origin", probeOrigin)
		evo := []string{eo.line() + " (with Origin: " + probeOrigin + ")", eo.headerLine("Access-Control-Expose-Headers")}
		switch {
		case eo.status != http.StatusUnauthorized:
			r.skip("CHAL-EXPOSE-HEADER", fmt.Sprintf("a request with a foreign Origin got %d, not 401 (origin validation); cannot check CORS", eo.status), evo...)
		default:
			exposed := false
			for _, v := range eo.header.Values("Access-Control-Expose-Headers") {
				for _, h := range strings.Split(v, ",") {
					h = strings.TrimSpace(h)
					if strings.EqualFold(h, "WWW-Authenticate") || h == "*" {
						exposed = true
					}
				}
			}
			r.check("CHAL-EXPOSE-HEADER", exposed, "WWW-Authenticate is not exposed to browser clients", evo...)
		}
	} else {
		r.skip("CHAL-EXPOSE-HEADER", "no 401 challenge")
	}

	// 2. Protected resource metadata.
	origin := mcpU.Scheme + "://" + mcpU.Host
	path := strings.TrimSuffix(mcpU.EscapedPath(), "/")
	pathURL := origin + "/.well-known/oauth-protected-resource" + path
	rootURL := origin + "/.well-known/oauth-protected-resource"
	if mcpU.RawQuery != "" {
		pathURL += "?" + mcpU.RawQuery
	}
	type prmDoc struct {
		where string
		url   string
		e     *exchange
		m     map[string]any
	}
	var docs []prmDoc
	fetched := map[string]*exchange{}
	fetch := func(where, u string) *prmDoc {
		e, ok := fetched[u]
		if !ok {
			e = r.get(ctx, u, "Accept", "application/json")
			fetched[u] = e
		}
		d := prmDoc{where: where, url: u, e: e}
		if e.err == nil && e.status == http.StatusOK {
			d.m = e.object()
		}
		docs = append(docs, d)
		return &docs[len(docs)-1]
	}
	var hdrDoc *prmDoc
	if r.chal != nil && r.chal.params["resource_metadata"] != "" {
		rm := r.chal.params["resource_metadata"]
		hdrDoc = fetch("resource_metadata", rm)
		if u, err := url.Parse(rm); err == nil {
			r.check("PRM-SAME-ORIGIN", u.Scheme+"://"+u.Host == origin,
				"the resource_metadata URL is on another origin than the MCP endpoint", "resource_metadata="+rm)
		}
	} else {
		r.skip("PRM-SAME-ORIGIN", "no resource_metadata in the challenge")
	}
	pDoc := fetch("path well-known", pathURL)
	r.check("PRM-WELLKNOWN-PATH", pDoc.m != nil, "no metadata at the path-inserted well-known URL", pDoc.e.line())
	if path == "" {
		r.pass("PRM-WELLKNOWN-ROOT", "the MCP URL has no path: the path and root well-known URLs are the same")
	} else {
		rDoc := fetch("root well-known", rootURL)
		r.check("PRM-WELLKNOWN-ROOT", rDoc.m != nil, "no metadata at the root well-known URL (clients probe it when the path-inserted one fails)", rDoc.e.line())
	}

	var prm *prmDoc
	for i := range docs {
		d := &docs[i]
		if d.e.err != nil || d.e.status != http.StatusOK {
			continue
		}
		evd := []string{d.where + ": " + d.e.line()}
		r.check("PRM-CONTENT-TYPE", d.e.isJSON(), "metadata not served as application/json", evd...)
		if d.m == nil {
			r.violation("PRM-DISCOVERY", "the metadata is not a JSON object", evd...)
			continue
		}
		nulls := nullMembers(d.e.body)
		r.check("PRM-NO-NULL", len(nulls) == 0, "null members: "+strings.Join(nulls, ", "), evd...)
		res := str(d.m, "resource")
		evr := append(evd, fmt.Sprintf("resource=%q, MCP URL=%q", res, r.mcpURL))
		switch {
		case res == r.mcpURL:
			r.pass("PRM-RESOURCE", evr...)
		case d.where == "root well-known" && res != "" && strings.HasPrefix(r.mcpURL, res):
			r.warn("PRM-RESOURCE", "the root metadata names a prefix of the MCP URL (accepted by the TypeScript SDK, refused by clients comparing exactly)", evr...)
		default:
			r.violation("PRM-RESOURCE", "resource differs from the MCP URL (clients abort)", evr...)
		}
		if prm == nil && (d.where != "root well-known" || res == r.mcpURL || hdrDoc == nil) {
			prm = d
		}
	}
	if hdrDoc != nil && hdrDoc.m == nil {
		r.violation("PRM-DISCOVERY", "the resource_metadata URL of the challenge does not serve metadata", hdrDoc.e.line())
	}
	if prm == nil {
		var evs []string
		for _, d := range docs {
			evs = append(evs, d.where+": "+d.e.line())
		}
		r.violation("PRM-DISCOVERY", "no protected resource metadata found", evs...)
		r.skipAll("no protected resource metadata", "PRM-CONTENT-TYPE", "PRM-RESOURCE", "PRM-AUTH-SERVERS", "PRM-NO-OFFLINE", "PRM-BEARER-HEADER", "PRM-NO-NULL", "AS-META-DISCOVERY")
		return
	}
	r.pass("PRM-DISCOVERY", prm.where+": "+prm.e.line())
	r.prm = prm.m
	evp := prm.where + ": " + prm.url
	servers, ok := stringList(prm.m, "authorization_servers")
	r.check("PRM-AUTH-SERVERS", ok && len(servers) > 0 && servers[0] != "",
		"authorization_servers is missing or empty", evp, fmt.Sprintf("authorization_servers=%v", prm.m["authorization_servers"]))
	supported, _ := stringList(prm.m, "scopes_supported")
	r.check("PRM-NO-OFFLINE", !contains(supported, "offline_access"), "scopes_supported lists offline_access", evp, fmt.Sprintf("scopes_supported=%v", supported))
	if methods, present := stringList(prm.m, "bearer_methods_supported"); present {
		r.check("PRM-BEARER-HEADER", len(methods) == 1 && methods[0] == "header", "tokens may only be sent in the Authorization header",
			evp, fmt.Sprintf("bearer_methods_supported=%v", methods))
	} else if _, there := prm.m["bearer_methods_supported"]; there {
		r.violation("PRM-BEARER-HEADER", "bearer_methods_supported is not an array of strings", evp)
	} else {
		r.pass("PRM-BEARER-HEADER", evp, "bearer_methods_supported absent")
	}

	// Scopes to request.
	switch {
	case len(r.t.Scopes) > 0:
		r.scopes = r.t.Scopes
	case r.chal != nil && r.chal.params["scope"] != "":
		r.scopes = strings.Fields(r.chal.params["scope"])
	default:
		r.scopes = supported
	}

	if !ok || len(servers) == 0 {
		r.skip("AS-META-DISCOVERY", "no authorization server in the protected resource metadata")
		return
	}
	r.discoverAS(ctx, servers[0])
}

// discoverAS fetches the authorization server metadata of issuer at every URL MCP
// clients probe.
func (r *runner) discoverAS(ctx context.Context, issuer string) {
	r.issuer = issuer
	iu, err := url.Parse(issuer)
	if err != nil || !iu.IsAbs() || iu.Host == "" {
		r.violation("AS-META-DISCOVERY", fmt.Sprintf("the issuer %q is not an absolute URL", issuer))
		return
	}
	origin := iu.Scheme + "://" + iu.Host
	path := strings.TrimSuffix(iu.EscapedPath(), "/")
	type loc struct{ name, url string }
	locs := []loc{{"RFC 8414", origin + "/.well-known/oauth-authorization-server" + path}}
	if path == "" {
		locs = append(locs, loc{"OIDC", origin + "/.well-known/openid-configuration"})
	} else {
		locs = append(locs,
			loc{"OIDC path insertion", origin + "/.well-known/openid-configuration" + path},
			loc{"OIDC path appending", origin + path + "/.well-known/openid-configuration"})
	}
	var found []string
	var missingOIDC []string
	for i, l := range locs {
		e := r.get(ctx, l.url, "Accept", "application/json", "Origin", probeOrigin)
		ev := l.name + ": " + e.line()
		ok := e.err == nil && e.status == http.StatusOK
		var m map[string]any
		if ok {
			m = e.object()
		}
		if i == 0 {
			r.check("AS-META-RFC8414", m != nil, "no metadata at the RFC 8414 well-known URL", ev)
		} else if m == nil {
			missingOIDC = append(missingOIDC, ev)
		}
		if !ok {
			continue
		}
		r.check("AS-META-CONTENT-TYPE", e.isJSON(), "metadata not served as application/json", ev)
		if m == nil {
			r.violation("AS-META-DISCOVERY", "metadata is not a JSON object", ev)
			continue
		}
		found = append(found, ev)
		got := str(m, "issuer")
		r.check("AS-META-ISSUER", got == issuer, "the metadata's issuer differs from the issuer the URL was built from",
			ev, fmt.Sprintf("issuer=%q, authorization_servers[0]=%q", got, issuer))
		nulls := nullMembers(e.body)
		r.check("AS-META-NO-NULL", len(nulls) == 0, "null members: "+strings.Join(nulls, ", "), ev)
		acao := e.header.Get("Access-Control-Allow-Origin")
		r.check("AS-META-CORS", acao == "*" || acao == probeOrigin, "no Access-Control-Allow-Origin for a foreign origin", ev, e.headerLine("Access-Control-Allow-Origin"))
		if r.asm == nil {
			r.asm = m
		}
	}
	if len(missingOIDC) == 0 {
		r.pass("AS-META-OIDC")
	} else {
		r.violation("AS-META-OIDC", "missing OpenID Connect discovery variants (some clients probe only these)", missingOIDC...)
	}
	if r.asm == nil {
		r.violation("AS-META-DISCOVERY", "no authorization server metadata at any URL MCP clients probe", locs[0].url)
		return
	}
	r.pass("AS-META-DISCOVERY", found...)
	m := r.asm
	r.endpoints.authorize = str(m, "authorization_endpoint")
	r.endpoints.token = str(m, "token_endpoint")
	r.endpoints.registration = str(m, "registration_endpoint")
	r.endpoints.revocation = str(m, "revocation_endpoint")
	r.endpoints.introspection = str(m, "introspection_endpoint")

	var missing []string
	for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint"} {
		if str(m, k) == "" {
			missing = append(missing, k)
		}
	}
	rts, _ := stringList(m, "response_types_supported")
	if !contains(rts, "code") {
		missing = append(missing, `response_types_supported with "code"`)
	}
	r.check("AS-META-REQUIRED", len(missing) == 0, "missing: "+strings.Join(missing, ", "))

	ccm, present := stringList(m, "code_challenge_methods_supported")
	evc := fmt.Sprintf("code_challenge_methods_supported=%v", m["code_challenge_methods_supported"])
	r.check("AS-META-PKCE", present && contains(ccm, "S256"), "S256 not advertised: MCP clients refuse to proceed", evc)
	r.check("AS-META-NO-PLAIN", !contains(ccm, "plain"), "plain is advertised", evc)

	var insecure []string
	for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"} {
		v := str(m, k)
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || !(u.Scheme == "https" || u.Scheme == "http" && loopback.IsHost(u.Hostname())) {
			insecure = append(insecure, k+"="+v)
		}
	}
	r.check("AS-META-HTTPS", len(insecure) == 0, "endpoints not on https", insecure...)
}
