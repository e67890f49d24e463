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

// RFC 8707 §2: a resource indicator is an absolute URI; canonicalisation keeps its host
// and refuses what has none, including an authority that only url.Parse accepts (a stray
// bracket, found by FuzzCanonicalResource, used to come out as "https://:0").
func TestCanonicalResource_RFC8707_2(t *testing.T) {
	for raw, want := range map[string]string{
		"HTTPS://MCP.Example.com:443/mcp": "https://mcp.example.com/mcp",
		"http://[::1]:80/":                "http://[::1]/",
		"https://x.example:8443":          "https://x.example:8443",
	} {
		if got, err := CanonicalResource(raw); err != nil || got != want {
			t.Errorf("CanonicalResource(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"https://]:0/mcp", "A0000://]:0", "https://[/", "https://:443/", "/mcp", "https://x.example/#f", "https://u@x.example/"} {
		if got, err := CanonicalResource(raw); err == nil {
			t.Errorf("CanonicalResource(%q) = %q, want an error", raw, got)
		}
	}
}
