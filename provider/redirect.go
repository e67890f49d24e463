package provider

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// forbiddenRedirectSchemes can never receive an authorization response.
var forbiddenRedirectSchemes = map[string]bool{
	"javascript": true, "data": true, "vbscript": true, "file": true, "blob": true,
	"about": true, "filesystem": true, "view-source": true, "ws": true, "wss": true,
}

// ValidateRedirectURI checks a redirect URI against the rules of OAuth 2.1 and RFC 8252:
// an absolute URI without a fragment or user information, using https, http only on a
// loopback host (127.0.0.0/8, [::1], localhost), or a private-use scheme such as
// "com.example.app:/cb" or "vscode://…" (never javascript:, data: and the like).
func ValidateRedirectURI(raw string) error {
	if raw == "" {
		return errors.New("redirect URI is empty")
	}
	if strings.Contains(raw, "#") {
		return errors.New("redirect URI must not contain a fragment")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("redirect URI is not a valid URI")
	}
	if u.Scheme == "" || !u.IsAbs() {
		return errors.New("redirect URI must be absolute")
	}
	if !strings.HasPrefix(raw, u.Scheme+":") { // url.Parse lowercases the scheme
		return errors.New("redirect URI scheme must be lowercase")
	}
	if u.User != nil {
		return errors.New("redirect URI must not contain user information")
	}
	if u.Opaque != "" {
		return errors.New("redirect URI must have a path starting with '/' after the scheme")
	}
	if strings.ContainsAny(raw, " \t\r\n\x00<>\"\\") {
		return errors.New("redirect URI contains an illegal character")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return errors.New("https redirect URI must have a host")
		}
	case "http":
		if !loopback.IsHost(u.Hostname()) {
			return errors.New("http redirect URIs are allowed only on loopback hosts (127.0.0.1, [::1], localhost)")
		}
	default:
		if forbiddenRedirectSchemes[u.Scheme] {
			return errors.New("redirect URI scheme is not allowed")
		}
	}
	return nil
}

// redirectSecure is fosite's RedirectSecureChecker.
func redirectSecure(_ context.Context, u *url.URL) bool {
	return u != nil && ValidateRedirectURI(u.String()) == nil
}

// matchLoopback reports whether requested equals registered except for the port, both
// being http URIs on the same loopback host (RFC 8252 §7.3). Scheme, host, path and
// query must match exactly.
func matchLoopback(requested, registered string) bool {
	if strings.Contains(requested, "#") || strings.Contains(registered, "#") {
		return false
	}
	r, err := url.Parse(requested)
	if err != nil {
		return false
	}
	g, err := url.Parse(registered)
	if err != nil {
		return false
	}
	if r.Scheme != "http" || g.Scheme != "http" || r.User != nil || g.User != nil || r.Opaque != "" || g.Opaque != "" {
		return false
	}
	host := r.Hostname()
	if !loopback.IsHost(host) || host != g.Hostname() {
		return false
	}
	for _, port := range []string{r.Port(), g.Port()} {
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return false
			}
		}
	}
	// url.Parse accepts "host:" with an empty port; keep the host part literally equal.
	if strings.HasSuffix(r.Host, ":") || strings.HasSuffix(g.Host, ":") {
		return false
	}
	return r.EscapedPath() == g.EscapedPath() && r.RawQuery == g.RawQuery && r.ForceQuery == g.ForceQuery
}

// isLocalhostRedirect reports whether raw is an http redirect URI on the host name
// localhost (not an IP literal).
func isLocalhostRedirect(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "http" && strings.EqualFold(u.Hostname(), "localhost")
}

// isLoopbackRedirect reports whether raw is an http redirect URI on a loopback host.
func isLoopbackRedirect(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "http" && loopback.IsHost(u.Hostname())
}

// withParams returns redirectURI with params added to its query (RFC 6749 §4.1.2:
// the query of the registered URI is kept) and no fragment.
func withParams(redirectURI *url.URL, params url.Values) string {
	u := *redirectURI
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}
