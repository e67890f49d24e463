package oauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CanonicalResource returns the canonical form of an RFC 8707 resource indicator: an
// absolute URI without a fragment, with lowercase scheme and host and without the
// scheme's default port. The path, including any trailing slash, is kept as given.
// Uppercase scheme or host are tolerated on input.
func CanonicalResource(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("resource is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("resource is not a URI: %w", err)
	}
	if !u.IsAbs() || u.Opaque != "" || u.Hostname() == "" {
		return "", errors.New("resource must be an absolute URI with a host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", errors.New("resource must not contain a fragment")
	}
	if u.User != nil {
		return "", errors.New("resource must not contain user information")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := u.Hostname(), u.Port()
	host = strings.ToLower(host)
	// url.Parse lets a stray bracket through ("https://]:0/" has the host "]"), which
	// would canonicalise to a URI without a host: a valid IPv6 literal has lost its
	// brackets in Hostname, so a bracket left is a malformed host.
	if strings.ContainsAny(host, "[]") {
		return "", errors.New("resource host is not valid")
	}
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		if ip := net.ParseIP(strings.SplitN(host, "%", 2)[0]); ip == nil {
			return "", errors.New("resource host is not valid")
		}
		host = "[" + host + "]"
	}
	if port != "" {
		u.Host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	} else {
		u.Host = host
	}
	out := u.String()
	v, err := url.Parse(out)
	if err != nil {
		return "", fmt.Errorf("resource is not a URI: %w", err)
	}
	if v.Hostname() == "" {
		return "", errors.New("resource must be an absolute URI with a host")
	}
	return out, nil
}
