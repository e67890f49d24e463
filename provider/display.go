package provider

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxClientNameLength is the longest client_name accepted, in characters: enough for any
// product name, short enough that a consent page cannot be flooded by one.
const MaxClientNameLength = 200

// ValidateClientName checks a client_name before it is stored and shown on a consent
// page: at most MaxClientNameLength characters of valid UTF-8 without control or format
// characters (Unicode Cc and Cf: U+202E and the other bidirectional overrides that make
// "Claude Code \u202e(verified…" read as another name, zero-width joiners and spaces),
// line or paragraph separators (Zl, Zp) or private-use characters (Co, which render as
// anything). The one rule for every way a client name enters: dynamic registration
// (RFC 7591/7592), client ID metadata documents and CreateClient. An empty name is the
// caller's business (client_name is optional in RFC 7591, required in a metadata
// document); so is trimming surrounding spaces.
func ValidateClientName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("client_name is not valid UTF-8")
	}
	if utf8.RuneCountInString(name) > MaxClientNameLength {
		return errors.New("client_name is too long (at most 200 characters)")
	}
	if strings.IndexFunc(name, notPlainText) >= 0 {
		return errors.New("client_name contains control, format or private-use characters")
	}
	return nil
}

// notPlainText reports the runes a client's free-text metadata may not hold: control
// (NUL among them) and format characters, line and paragraph separators, private-use
// characters and U+FFFD (see ValidateClientName).
func notPlainText(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co) || r == utf8.RuneError
}

// DisplayHost returns what a consent page should show for where raw (a redirect URI or
// a client's web page) leads: for http and https the host (with its port, if any) in
// ASCII, internationalized labels in their punycode form ("xn--80ak6aa92e.com", never
// "аррӏе.com", which reads as apple.com); for a private-use URI its scheme, followed by
// "//" and the host when it has one ("com.example.app:", "cursor://anysphere.cursor-mcp").
// Empty when raw does not parse.
func DisplayHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	host := asciiHost(u.Hostname())
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	switch u.Scheme {
	case "http", "https":
		return host
	}
	if host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + host
}

// asciiHost returns host in ASCII: punycode for internationalized labels, and a
// quoted, escaped form for anything that is not a valid host name.
func asciiHost(host string) string {
	a, err := idna.Punycode.ToASCII(strings.ToLower(host))
	if err != nil || strings.IndexFunc(a, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		q := strconv.QuoteToASCII(host)
		return q[1 : len(q)-1]
	}
	return a
}
