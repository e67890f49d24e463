package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// RedirectURIRules are the rules a redirect URI must meet wherever one enters: static
// clients (CreateClient), dynamic registration (RFC 7591/7592), client ID metadata
// documents, and every authorization request. The zero value is the specifications'
// rules; ValidateRedirectURI applies it.
type RedirectURIRules struct {
	// DotlessSchemes are private-use URI schemes without a dot that are accepted although
	// RFC 8252 §7.1 requires a reverse domain name ("com.example.app"), for MCP clients
	// that shipped with such a scheme: Cursor registers
	// cursor://anysphere.cursor-mcp/oauth/callback. Lowercase scheme names; a scheme on
	// the deny list (see DeniedRedirectScheme) stays refused. Nil, the default, accepts
	// none; compat.Options.DotlessClientSchemes sets KnownDotlessClientSchemes(). Errors
	// are never redirected to these URIs without the user's click (see Authorize).
	DotlessSchemes []string
}

// KnownDotlessClientSchemes returns the dotless private-use schemes of MCP clients in use
// (a new slice each call): cursor (Cursor), vscode and vscode-insiders (VS Code
// extensions such as Cline), windsurf (Windsurf). See compat/README.md.
func KnownDotlessClientSchemes() []string {
	return []string{"cursor", "vscode", "vscode-insiders", "windsurf"}
}

// deniedSchemes can never receive an authorization response, whatever the rules say:
// they run script or show content in the browser's context (javascript, data, blob…),
// reach files or network shares (file, ftp, smb…), start messages or calls (mailto,
// tel, sms…), or hand the query to an operating system handler that installs, searches
// or opens things (search-ms, ms-appinstaller, itms-services, x-apple.systempreferences…).
var deniedSchemes = map[string]bool{
	"javascript": true, "vbscript": true, "livescript": true, "data": true, "blob": true, "about": true,
	"filesystem": true, "view-source": true, "jar": true, "mhtml": true, "mk": true, "res": true, "its": true,
	"resource": true, "chrome": true, "wyciwyg": true,
	"file": true, "ftp": true, "ftps": true, "sftp": true, "tftp": true, "smb": true, "cifs": true, "nfs": true,
	"afp": true, "dav": true, "webdav": true, "ldap": true, "ldaps": true, "ldapi": true, "gopher": true,
	"telnet": true, "ssh": true, "rlogin": true, "vnc": true, "rdp": true, "git": true, "svn": true,
	"mailto": true, "tel": true, "sms": true, "smsto": true, "mms": true, "callto": true, "sip": true,
	"sips": true, "facetime": true, "facetime-audio": true, "skype": true, "xmpp": true, "irc": true,
	"ircs": true, "news": true, "nntp": true, "snews": true, "feed": true, "webcal": true, "magnet": true,
	"search": true, "search-ms": true, "shell": true, "hcp": true, "help": true, "jnlp": true, "jnlps": true,
	"intent": true, "android-app": true, "content": true, "market": true, "applescript": true,
	"itms": true, "itms-apps": true, "itms-appss": true, "itms-services": true, "shortcuts": true,
	"workflow": true, "ws": true, "wss": true, "http": true, "https": true,
}

// deniedSchemePrefixes are families of operating system and browser handlers: Windows'
// ms-* (ms-appinstaller, ms-msdt, ms-officecmd, ms-settings…) and microsoft-*, Apple's
// x-apple*, x-safari-*, and browsers' internal schemes.
var deniedSchemePrefixes = []string{
	"ms-", "microsoft-", "x-apple", "x-safari-", "x-web-search", "x-help-", "chrome-", "moz-",
	"edge-", "opera-", "brave-", "ie.", "view-",
}

// DeniedRedirectScheme reports whether scheme (lowercase) is never acceptable for a
// private-use redirect URI: script and content schemes, file and network-share schemes,
// messaging schemes, and operating system handlers (the list follows browsers' and
// operating systems' protocol handler registrations; see the source). http and https
// count as denied here: they are not private-use schemes.
func DeniedRedirectScheme(scheme string) bool {
	if deniedSchemes[scheme] {
		return true
	}
	for _, p := range deniedSchemePrefixes {
		if strings.HasPrefix(scheme, p) {
			return true
		}
	}
	return false
}

// reverseDomainScheme reports whether scheme has the form RFC 8252 §7.1 asks of
// private-use schemes: a domain name in reverse order ("com.example.app"), that is at
// least two non-empty dot-separated labels.
func reverseDomainScheme(scheme string) bool {
	labels := strings.Split(scheme, ".")
	if len(labels) < 2 {
		return false
	}
	return !slices.Contains(labels, "")
}

// ValidateRedirectURI checks raw against the specifications' rules (the zero
// RedirectURIRules): see RedirectURIRules.Validate.
func ValidateRedirectURI(raw string) error {
	return RedirectURIRules{}.Validate(raw)
}

// Validate checks a redirect URI against OAuth 2.1 §2.3.1 and RFC 8252 §7: an absolute
// URI of printable ASCII (an IRI such as https://аррӏе.com/cb is refused: its host would
// read as another one), without fragment or user information, with a valid port (1 to
// 65535, digits only, no leading zero) if any, using
//   - https with a host;
//   - http only on a loopback host (127.0.0.0/8, [::1], localhost; see package loopback);
//   - a private-use scheme named after a reversed domain ("com.example.app:/cb",
//     RFC 8252 §7.1), or one of r.DotlessSchemes, never one on the deny list (see
//     DeniedRedirectScheme), with a path or a host: "scheme:?query" is not a redirect
//     URI.
func (r RedirectURIRules) Validate(raw string) error {
	if raw == "" {
		return errors.New("redirect URI is empty")
	}
	if strings.Contains(raw, "#") {
		return errors.New("redirect URI must not contain a fragment")
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("<>\"\\^`{|}", c) >= 0 {
			return errors.New("redirect URI contains a character a URI cannot have (RFC 3986: printable ASCII; non-ASCII hosts in their xn-- form)")
		}
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
	if authority, found := strings.CutPrefix(raw, u.Scheme+"://"); found {
		if i := strings.IndexAny(authority, "/?"); i >= 0 {
			authority = authority[:i]
		}
		if strings.Contains(authority, "%") {
			// url.Parse decodes percent-encoded hosts: %D0%B0pple.com would read as аpple.com.
			return errors.New("redirect URI host must not be percent-encoded")
		}
		if _, port, ok := splitHostPort(authority); !ok || port != "" && !validPort(port) {
			return errors.New("redirect URI port must be a number from 1 to 65535 without leading zeros")
		}
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return errors.New("https redirect URI must have a host")
		}
	case "http":
		if !loopback.IsHost(u.Hostname()) {
			return errors.New("http redirect URIs are allowed only on loopback hosts (127.0.0.1, [::1], localhost)")
		}
	default:
		switch {
		case DeniedRedirectScheme(u.Scheme):
			return errors.New("redirect URI scheme is not allowed")
		case !reverseDomainScheme(u.Scheme) && !slices.Contains(r.DotlessSchemes, u.Scheme):
			return errors.New("private-use redirect URI schemes must be a reversed domain name such as com.example.app (RFC 8252 §7.1)")
		case u.Host == "" && !strings.HasPrefix(u.Path, "/"):
			return errors.New("private-use redirect URI must have a path starting with '/' after the scheme (RFC 8252 §7.1)")
		}
	}
	return nil
}

// splitHostPort splits a URI's authority (without user information) into host (IPv6
// literals keep their brackets) and port ("" without one). ok is false for a colon
// without a port or an unclosed bracket.
func splitHostPort(authority string) (host, port string, ok bool) {
	if strings.HasPrefix(authority, "[") {
		i := strings.IndexByte(authority, ']')
		if i < 0 {
			return "", "", false
		}
		host, after := authority[:i+1], authority[i+1:]
		if after == "" {
			return host, "", true
		}
		port, found := strings.CutPrefix(after, ":")
		return host, port, found && port != ""
	}
	host, port, found := strings.Cut(authority, ":")
	return host, port, !found || port != ""
}

// validPort reports whether p is a TCP port in canonical decimal form.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// secure is fosite's RedirectSecureChecker.
func (r RedirectURIRules) secure(_ context.Context, u *url.URL) bool {
	return u != nil && r.Validate(u.String()) == nil
}

// matchLoopback reports whether requested is registered except for its port
// (RFC 8252 §7.3; OAuth 2.1 §2.3.1 compares redirect URIs exactly otherwise): both
// "http://" URIs on the same loopback IP literal — or, with localhost, on the host name
// localhost — whose path and query are byte for byte the same (no decoding, no case
// folding), and requested's port, if any, a valid port. Everything is compared as
// written: "HTTP://", "/%63b", "09999" or "99999999999" do not match.
func matchLoopback(requested, registered string, localhost bool) bool {
	rHost, rPort, rRest, ok := splitHTTP(requested)
	if !ok {
		return false
	}
	gHost, _, gRest, ok := splitHTTP(registered)
	if !ok || rHost != gHost || rRest != gRest {
		return false
	}
	if !loopback.IsIP(rHost) && !(localhost && rHost == "localhost") {
		return false
	}
	return rPort == "" || validPort(rPort)
}

// splitHTTP splits an "http://" URI into its host (IPv6 literals with brackets), its port
// ("" without one) and the rest (path and query, undecoded). ok is false for other
// schemes, user information, a fragment, or a colon without a port.
func splitHTTP(raw string) (host, port, rest string, ok bool) {
	s, found := strings.CutPrefix(raw, "http://")
	if !found || strings.Contains(s, "#") {
		return "", "", "", false
	}
	end := strings.IndexAny(s, "/?")
	if end < 0 {
		end = len(s)
	}
	authority, rest := s[:end], s[end:]
	if strings.Contains(authority, "@") {
		return "", "", "", false
	}
	host, port, ok = splitHostPort(authority)
	return host, port, rest, ok
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
