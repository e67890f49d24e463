package oauth_test

import (
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// allowed reports whether s holds only what RFC 6749 §5.2 allows in error_description:
// %x20-21 / %x23-5B / %x5D-7E.
func allowed(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// RFC 6749 §5.2: descriptions keep what is allowed as it is and replace the rest, one
// question mark per character (not per byte).
func TestErrorDescription_RFC6749_5_2(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"The grant type 'x' is not supported.", "The grant type 'x' is not supported."},
		{`say "hi"`, "say 'hi'"},
		{`C:\path`, "C:?path"},
		{"line\nbreak\ttab\x00nul", "line?break?tab?nul"},
		{"caf\u00e9 \u202e", "caf? ?"},
		{"bad \xff byte", "bad ? byte"},
		{"", ""},
	} {
		if got := oauth.ErrorDescription(tc.in); got != tc.want {
			t.Errorf("ErrorDescription(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Whatever a client makes a description quote, the result is allowed, and a clean
// description is left as it is.
func FuzzErrorDescription(f *testing.F) {
	for _, s := range []string{"plain", `q"uote`, `back\slash`, "nl\n", "\u00e9", "\xff\xfe", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := oauth.ErrorDescription(s)
		if !allowed(got) {
			t.Fatalf("ErrorDescription(%q) = %q: outside RFC 6749 §5.2's set", s, got)
		}
		if allowed(s) && got != s {
			t.Fatalf("ErrorDescription(%q) = %q: a clean description changed", s, got)
		}
	})
}
