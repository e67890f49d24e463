package resourceserver

import "testing"

// RFC 8707 §2 resource identifiers compared after canonicalisation; MCP resource matching
// by whole path segments (compat: TypeScript SDK sends the PRM resource, an origin or path
// prefix of the MCP URL).
func TestResourceCovers_PathSegmentPrefix(t *testing.T) {
	tests := []struct {
		name           string
		prefix, target string
		want           bool
	}{
		{"identical", "https://h/mcp", "https://h/mcp", true},
		{"origin covers path", "https://h", "https://h/mcp", true},
		{"origin with slash covers path", "https://h/", "https://h/mcp", true},
		{"parent path covers child", "https://h/api", "https://h/api/mcp", true},
		{"trailing slash on prefix", "https://h/api/", "https://h/api/mcp", true},
		{"trailing slash on target", "https://h/mcp", "https://h/mcp/", true},
		{"uppercase scheme and host", "HTTPS://H.EXAMPLE/mcp", "https://h.example/mcp", true},
		{"explicit default port", "https://h:443/mcp", "https://h/mcp", true},
		{"partial segment never", "https://h/mc", "https://h/mcp", false},
		{"partial segment with slash never", "https://h/ap", "https://h/api/mcp", false},
		{"child does not cover parent", "https://h/mcp/x", "https://h/mcp", false},
		{"sibling", "https://h/a", "https://h/b", false},
		{"different scheme", "http://h/mcp", "https://h/mcp", false},
		{"different host", "https://evil/mcp", "https://h/mcp", false},
		{"suffix host", "https://h.evil/mcp", "https://h/mcp", false},
		{"different port", "https://h:8443/mcp", "https://h/mcp", false},
		{"path case matters", "https://h/MCP", "https://h/mcp", false},
		{"fragment invalid", "https://h/mcp#x", "https://h/mcp", false},
		{"relative invalid", "/mcp", "https://h/mcp", false},
		{"empty invalid", "", "https://h/mcp", false},
		{"query prefix must be identical", "https://h/mcp?a=1", "https://h/mcp/x?a=1", false},
		{"query identical", "https://h/mcp?a=1", "https://h/mcp?a=1", true},
		{"escaped slash is one segment", "https://h/a%2Fb", "https://h/a/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResourceCovers(tt.prefix, tt.target); got != tt.want {
				t.Errorf("ResourceCovers(%q, %q) = %v, want %v", tt.prefix, tt.target, got, tt.want)
			}
		})
	}
}

func TestSameResource_RFC8707Canonical(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://h/mcp", "https://h/mcp", true},
		{"https://h/mcp", "HTTPS://H/mcp", true},
		{"https://h/mcp", "https://h:443/mcp", true},
		{"http://h/mcp", "http://h:80/mcp", true},
		{"https://h/mcp", "https://h/mcp/", true},
		{"https://h", "https://h/", true},
		{"https://h/mcp", "https://h", false},
		{"https://h", "https://h/mcp", false},
		{"https://h/mcp", "http://h/mcp", false},
		{"https://h/mcp", "https://h/mcp?x=1", false},
		{"https://h/mcp", "https://h/mcp#f", false},
		{"https://[::1]:8443/mcp", "https://[::1]:8443/mcp", true},
	}
	for _, tt := range tests {
		if got := SameResource(tt.a, tt.b); got != tt.want {
			t.Errorf("SameResource(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
