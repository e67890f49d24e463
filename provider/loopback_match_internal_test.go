package provider

import (
	"net/url"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// FuzzMatchLoopback: a requested redirect URI that matchLoopback lets through in place of
// a registered loopback one (RFC 8252 §7.3: any port) is, as net/url reads it (and so
// fosite, which redirects to it), an http URI without user information or fragment on
// the registered URI's loopback host, with the registered path and query: the port is
// all a request can change, so no match is an open redirect.
func FuzzMatchLoopback(f *testing.F) {
	// The first three seeds match, so the property below is exercised, not only skipped.
	for i, seed := range [][2]string{
		{"http://127.0.0.1:51234/cb", "http://127.0.0.1/cb"}, {"http://[::1]:8080/cb?x=1", "http://[::1]/cb?x=1"},
		{"http://localhost:9/cb", "http://localhost/cb"}, {"http://127.0.0.1:80@evil.example/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:1\\@evil.example/cb", "http://127.0.0.1/cb"}, {"http://127.0.0.1:0/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:65536/cb", "http://127.0.0.1/cb"}, {"HTTP://127.0.0.1:1/cb", "http://127.0.0.1/cb"},
		{"http://127.0.0.1:1/cb#f", "http://127.0.0.1/cb"}, {"http://127.0.0.1.evil.example:1/cb", "http://127.0.0.1/cb"},
	} {
		if i < 3 && !matchLoopback(seed[0], seed[1], true) {
			f.Fatalf("seed %q does not match %q", seed[0], seed[1])
		}
		f.Add(seed[0], seed[1], true)
	}
	f.Fuzz(func(t *testing.T, requested, registered string, localhost bool) {
		if ValidateRedirectURI(registered) != nil || !matchLoopback(requested, registered, localhost) {
			return // only validated URIs are ever registered
		}
		u, err := url.Parse(requested)
		if err != nil {
			t.Fatalf("matchLoopback(%q, %q): but net/url refuses it: %v", requested, registered, err)
		}
		g, err := url.Parse(registered)
		if err != nil {
			t.Fatalf("registered %q passed ValidateRedirectURI but net/url refuses it: %v", registered, err)
		}
		if u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("matchLoopback(%q, %q): scheme %q, user %v, fragment %q, opaque %q", requested, registered, u.Scheme, u.User, u.Fragment, u.Opaque)
		}
		if u.Hostname() != g.Hostname() || !(loopback.IsHost(u.Hostname()) || (localhost && u.Hostname() == "localhost")) {
			t.Fatalf("matchLoopback(%q, %q): host %q, registered %q", requested, registered, u.Hostname(), g.Hostname())
		}
		if u.EscapedPath() != g.EscapedPath() || u.RawQuery != g.RawQuery {
			t.Fatalf("matchLoopback(%q, %q): path and query %q?%q, registered %q?%q", requested, registered, u.EscapedPath(), u.RawQuery, g.EscapedPath(), g.RawQuery)
		}
	})
}
