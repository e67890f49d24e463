package resourceserver

import "testing"

// RFC 9728 §3.1: the well-known URI is formed by inserting the well-known path between the
// host and the path (and query) of the resource identifier.
func TestMetadataURL_RFC9728_3_1(t *testing.T) {
	tests := []struct {
		resource, want string
	}{
		{"https://h.example", "https://h.example/.well-known/oauth-protected-resource"},
		{"https://h.example/", "https://h.example/.well-known/oauth-protected-resource"},
		{"https://h.example/mcp", "https://h.example/.well-known/oauth-protected-resource/mcp"},
		{"https://h.example/a/mcp/", "https://h.example/.well-known/oauth-protected-resource/a/mcp/"},
		{"https://h.example/mcp?tenant=1", "https://h.example/.well-known/oauth-protected-resource/mcp?tenant=1"},
		{"HTTPS://H.Example:443/mcp", "https://h.example/.well-known/oauth-protected-resource/mcp"},
		{"http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"},
		{"https://h.example/a%20b", "https://h.example/.well-known/oauth-protected-resource/a%20b"},
	}
	for _, tt := range tests {
		got, err := MetadataURL(tt.resource)
		if err != nil || got != tt.want {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", tt.resource, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "/mcp", "https://h/mcp#f"} {
		if got, err := MetadataURL(bad); err == nil {
			t.Errorf("MetadataURL(%q) = %q, want error", bad, got)
		}
	}
	if p, err := MetadataPath("https://h.example/a/mcp"); err != nil || p != "/.well-known/oauth-protected-resource/a/mcp" {
		t.Errorf("MetadataPath = %q, %v", p, err)
	}
}
