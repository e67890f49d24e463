package conformance

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// redirects checks redirect URI matching and the refusal to redirect to untrusted URIs.
func (r *runner) redirects(ctx context.Context) {
	if r.main == nil {
		return
	}
	c := r.main
	reg, err := url.Parse(c.redirectURI)
	loopback := err == nil && reg.Scheme == "http" && loopback.IsIP(reg.Hostname())
	port := 49152 + int(randomString()[0])%1000
	withPort := func(u *url.URL, p int) *url.URL {
		v := *u
		v.Host = v.Hostname() + ":" + strconv.Itoa(p)
		if strings.Contains(v.Hostname(), ":") {
			v.Host = "[" + v.Hostname() + "]:" + strconv.Itoa(p)
		}
		return &v
	}
	if !loopback {
		r.skip("REDIR-LOOPBACK-PORT", "the client's redirect URI is not on 127.0.0.1 or [::1]", "redirect_uri="+c.redirectURI)
	} else {
		ru := withPort(reg, port).String()
		g, res := r.getCode(ctx, c, func(q url.Values) { q.Set("redirect_uri", ru) })
		r.check("REDIR-LOOPBACK-PORT", g != nil, "the registered loopback redirect URI on another port was refused: "+res.summary(),
			append([]string{"registered " + c.redirectURI + ", requested " + ru}, res.evidence...)...)
	}
	// Loopback port flexibility is about the port only: a host that merely starts like a
	// loopback address names another machine.
	if !loopback {
		r.skip("REDIR-LOOPBACK-HOST", "the client's redirect URI is not on 127.0.0.1 or [::1]", "redirect_uri="+c.redirectURI)
	} else {
		for _, host := range []string{"127.0.0.1.attacker.invalid", "localhost.attacker.invalid"} {
			v := *withPort(reg, port)
			v.Host = host + ":" + strconv.Itoa(port)
			ru := v.String()
			res := r.authorize(ctx, func() url.Values {
				q := r.authParams(c, randomString())
				q.Set("redirect_uri", ru)
				return q
			}(), ru)
			r.check("REDIR-LOOPBACK-HOST", res.callback == nil, "the authorization server redirected to a host that only looks like loopback",
				append([]string{"registered " + c.redirectURI + ", requested " + ru + ": " + res.summary()}, res.evidence...)...)
		}
	}
	if c.name != "suite client" {
		r.skip("REDIR-LOCALHOST-PORT", "needs the suite's own registered client (with "+localhostRedirect+")")
	} else {
		lu, _ := url.Parse(localhostRedirect)
		ru := withPort(lu, port+1).String()
		g, res := r.getCode(ctx, c, func(q url.Values) { q.Set("redirect_uri", ru) })
		r.check("REDIR-LOCALHOST-PORT", g != nil, "the registered localhost redirect URI on another port was refused: "+res.summary(),
			append([]string{"registered " + localhostRedirect + ", requested " + ru}, res.evidence...)...)
	}

	// Exact matching: other path, extra path segment, extra query parameter.
	if reg != nil && err == nil {
		base := reg
		if loopback {
			base = withPort(reg, port)
		}
		variants := []struct {
			uri  string
			fail func(*authzResult) bool
		}{}
		for _, p := range []string{"/conformance-other", strings.TrimSuffix(reg.Path, "/") + "/extra"} {
			v := *base
			v.Path = p
			variants = append(variants, struct {
				uri  string
				fail func(*authzResult) bool
			}{v.String(), func(a *authzResult) bool { return a.callback != nil }})
		}
		vq := *base
		q := vq.Query()
		q.Set("conformance_extra", "1")
		vq.RawQuery = q.Encode()
		variants = append(variants, struct {
			uri  string
			fail func(*authzResult) bool
		}{vq.String(), func(a *authzResult) bool { return a.callback != nil && a.callback.Get("conformance_extra") == "1" }})
		for _, v := range variants {
			res := r.authorize(ctx, func() url.Values {
				q := r.authParams(c, randomString())
				q.Set("redirect_uri", v.uri)
				return q
			}(), v.uri)
			ev := append([]string{"registered " + c.redirectURI + ", requested " + v.uri + ": " + res.summary()}, res.evidence...)
			r.check("REDIR-EXACT", !v.fail(res), "the authorization server redirected to an unregistered redirect URI", ev...)
		}
	}

	res := r.authorize(ctx, func() url.Values {
		q := r.authParams(c, randomString())
		q.Set("redirect_uri", attackerRedirect)
		return q
	}(), attackerRedirect)
	r.check("REDIR-UNREGISTERED", res.callback == nil, "the authorization server redirected to an unregistered redirect URI",
		append([]string{"requested " + attackerRedirect + ": " + res.summary()}, res.evidence...)...)

	unknown := &testClient{id: "conformance-unknown-client-" + randomString()[:10], authMethod: authNone, redirectURI: attackerRedirect}
	res = r.authorize(ctx, r.authParams(unknown, randomString()), attackerRedirect)
	r.check("REDIR-UNKNOWN-CLIENT", res.callback == nil, "the authorization server redirected for an unknown client",
		append([]string{"client_id=" + unknown.id + ": " + res.summary()}, res.evidence...)...)
}
