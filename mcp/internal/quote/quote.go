// Package quote renders RFC 9110 quoted-strings for authentication challenges.
package quote

import (
	"strings"
	"unicode/utf8"
)

// String returns s as an RFC 9110 quoted-string. '"' and '\' become quoted-pairs;
// control characters (including CR and LF) are dropped; non-ASCII runes, which RFC 6750
// does not allow in its parameters, become '?'.
func String(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteByte('?')
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t' || (c >= 0x20 && c < 0x7f):
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}
