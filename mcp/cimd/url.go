package cimd

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// MaxClientIDLength is the longest client ID URL accepted, in bytes.
const MaxClientIDLength = 2048

// IsClientIDURL reports whether clientID looks like a client ID metadata document URL
// (it starts with "https://"), valid or not. Such client IDs are the Resolver's: an
// invalid one is refused with the reason rather than looked up as an ordinary client.
func IsClientIDURL(clientID string) bool {
	return strings.HasPrefix(clientID, "https://")
}

// ValidateClientIDURL checks a client ID URL against draft-ietf-oauth-client-id-metadata-document-00
// §3: an https URL with a host and a path, no single-dot or double-dot path segments
// (also percent-encoded), no fragment and no user information. Beyond the draft it
// refuses a query (which §3 says SHOULD NOT be used), the root path "/", and
// non-canonical forms (uppercase scheme or host, a trailing dot in the host, an
// explicit :443, an empty port), so that one client has one client ID; encoded slashes
// and backslashes in the path (which some servers decode into other paths); and
// characters that are not allowed in a URI.
func ValidateClientIDURL(raw string) error {
	switch {
	case raw == "":
		return errors.New("the client ID is empty")
	case len(raw) > MaxClientIDLength:
		return errors.New("the client ID URL is too long")
	case !strings.HasPrefix(raw, "https://"):
		return errors.New("the client ID URL must use https")
	}
	for i := 0; i < len(raw); i++ {
		if !uriChar(raw[i]) {
			return errors.New("the client ID URL contains a character not allowed in a URI")
		}
	}
	if strings.Contains(raw, "#") {
		return errors.New("the client ID URL must not contain a fragment")
	}
	if strings.Contains(raw, "?") {
		return errors.New("the client ID URL must not contain a query")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("the client ID is not a valid URL")
	}
	authority := strings.TrimPrefix(raw, "https://")
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority = authority[:i]
	}
	switch {
	case u.Scheme != "https" || u.Opaque != "":
		return errors.New("the client ID URL must use https")
	case u.User != nil || strings.Contains(authority, "@"):
		return errors.New("the client ID URL must not contain user information")
	case u.Host == "":
		return errors.New("the client ID URL must have a host")
	}
	if err := checkHost(u); err != nil {
		return err
	}
	if u.Host != authority {
		return errors.New("the client ID URL's host must be in canonical form")
	}
	p := u.EscapedPath()
	if p == "" || p == "/" {
		return errors.New("the client ID URL must have a path")
	}
	if raw != "https://"+u.Host+p {
		return errors.New("the client ID URL must be in canonical form")
	}
	for _, seg := range strings.Split(p, "/") {
		dec, err := url.PathUnescape(seg)
		if err != nil || dec == "." || dec == ".." {
			return errors.New("the client ID URL must not contain dot segments")
		}
		if strings.ContainsAny(dec, "/\\") {
			return errors.New("the client ID URL must not contain encoded slashes or backslashes")
		}
	}
	return nil
}

// checkHost checks the host and port of a client ID URL: a lowercase DNS name or an IP
// literal, and a port, when present, that is not 443.
func checkHost(u *url.URL) error {
	host, port := u.Hostname(), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return errors.New("the client ID URL has an empty port")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		switch {
		case err != nil || n < 1 || n > 65535 || port[0] == '0':
			return errors.New("the client ID URL has an invalid port")
		case n == 443:
			return errors.New("the client ID URL must not name the default port 443")
		}
	}
	if strings.HasPrefix(u.Host, "[") {
		ip := net.ParseIP(host)
		if ip == nil || ip.To4() != nil || strings.Contains(host, "%") {
			return errors.New("the client ID URL has an invalid IPv6 host")
		}
		if canon := ip.String(); canon != host {
			return errors.New("the client ID URL's host must be in canonical form")
		}
		return nil
	}
	if host != strings.ToLower(host) {
		return errors.New("the client ID URL's host must be lowercase")
	}
	if len(host) > 253 || strings.HasSuffix(host, ".") || strings.HasPrefix(host, ".") {
		return errors.New("the client ID URL's host is not a valid host name")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("the client ID URL's host is not a valid host name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("the client ID URL's host is not a valid host name")
			}
		}
	}
	return nil
}

// uriChar reports whether c may appear in a URI (RFC 3986 §2: unreserved, reserved and
// '%').
func uriChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}
