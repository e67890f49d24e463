package provider

import (
	"slices"
	"testing"
)

// RFC 6749 §3.3 scope syntax.
func TestParseScope_RFC6749_3_3(t *testing.T) {
	if got := ParseScope("  a b  a c "); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("ParseScope = %q", got)
	}
	if got := ParseScope(""); got != nil {
		t.Errorf("ParseScope(\"\") = %q", got)
	}
	for s, want := range map[string]bool{"a": true, "a:b/c!#[]~": true, "": false, "a b": false, `a"`: false, `a\`: false, "é": false, "a\x7f": false} {
		if got := ValidScopeToken(s); got != want {
			t.Errorf("ValidScopeToken(%q) = %v", s, got)
		}
	}
}
