package resourceserver

import (
	"net/url"
	"slices"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// SameResource reports whether a and b identify the same resource: equal after RFC 8707
// canonicalisation (case of scheme and host, default port), with one trailing slash on
// the path ignored. Either being invalid means false.
func SameResource(a, b string) bool {
	ua, ok := parseCanonical(a)
	if !ok {
		return false
	}
	ub, ok := parseCanonical(b)
	if !ok {
		return false
	}
	return sameOrigin(ua, ub) && ua.RawQuery == ub.RawQuery &&
		slices.Equal(segments(ua), segments(ub))
}

// ResourceCovers reports whether prefix names target or a part of the URL space above
// it, by whole path segments: https://h and https://h/api cover https://h/api/mcp, but
// https://h/ap does not, and a different scheme, host or port never does. A prefix with
// a query covers only the identical URL. Canonicalisation and a trailing slash are as for
// [SameResource].
//
// The TypeScript SDK sends the resource from protected resource metadata, which may be an
// origin or path prefix of the MCP URL; this is the rule for mapping it to the registered
// resource (see [Registry.Match]).
func ResourceCovers(prefix, target string) bool {
	up, ok := parseCanonical(prefix)
	if !ok {
		return false
	}
	ut, ok := parseCanonical(target)
	if !ok || !sameOrigin(up, ut) {
		return false
	}
	ps, ts := segments(up), segments(ut)
	if up.RawQuery != "" {
		return up.RawQuery == ut.RawQuery && slices.Equal(ps, ts)
	}
	if len(ps) > len(ts) {
		return false
	}
	return slices.Equal(ps, ts[:len(ps)])
}

func parseCanonical(raw string) (*url.URL, bool) {
	canon, err := oauth.CanonicalResource(raw)
	if err != nil {
		return nil, false
	}
	u, err := url.Parse(canon)
	if err != nil {
		return nil, false
	}
	return u, true
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Host == b.Host
}

// segments splits the escaped path into segments, ignoring one leading and one trailing
// slash: "/" and "" have none, "/a/b/" has [a b], "//a" has ["" a].
func segments(u *url.URL) []string {
	p := strings.TrimPrefix(u.EscapedPath(), "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
