package resourceserver

import (
	"strings"
	"testing"
)

func TestNewRegistry_Validation(t *testing.T) {
	tests := []struct {
		name      string
		resources []Resource
		wantErr   string // substring; empty means success
	}{
		{"one resource", []Resource{{URL: "https://h/mcp", Scopes: []string{"a", "b"}, DefaultScopes: []string{"a"}}}, ""},
		{"none", nil, "at least one"},
		{"relative URL", []Resource{{URL: "/mcp"}}, "absolute"},
		{"fragment", []Resource{{URL: "https://h/mcp#x"}}, "fragment"},
		{"not http", []Resource{{URL: "urn:x:y"}}, "absolute"},
		{"ftp scheme", []Resource{{URL: "ftp://h/x"}}, "scheme"},
		{"scope with space", []Resource{{URL: "https://h/mcp", Scopes: []string{"a b"}}}, "scope token"},
		{"scope with quote", []Resource{{URL: "https://h/mcp", Scopes: []string{`a"`}}}, "scope token"},
		{"duplicate scope", []Resource{{URL: "https://h/mcp", Scopes: []string{"a", "a"}}}, "twice"},
		{"default scope not listed", []Resource{{URL: "https://h/mcp", Scopes: []string{"a"}, DefaultScopes: []string{"b"}}}, "default scope"},
		{"duplicate after canonicalisation", []Resource{{URL: "https://h/mcp"}, {URL: "HTTPS://H:443/mcp/"}}, "twice"},
		{"bad documentation", []Resource{{URL: "https://h/mcp", Documentation: "javascript:alert(1)"}}, "documentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRegistry(tt.resources...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewRegistry: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewRegistry error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRegistry_LookupAndMatch(t *testing.T) {
	reg, err := NewRegistry(
		Resource{URL: "https://h.example/a/mcp", Name: "A", Scopes: []string{"a"}},
		Resource{URL: "https://h.example/b/mcp", Name: "B"},
		Resource{URL: "https://other.example/mcp", Name: "O"},
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw    string
		lookup string // Name found by Lookup, "" for none
		match  string // Name found by Match, "" for none
	}{
		{"https://h.example/a/mcp", "A", "A"},
		{"HTTPS://H.EXAMPLE:443/a/mcp/", "A", "A"},
		{"https://h.example/a", "", "A"},           // path prefix, unique
		{"https://h.example", "", ""},              // covers A and B: ambiguous
		{"https://other.example", "", "O"},         // origin prefix, unique
		{"https://h.example/a/mcp/deeper", "", ""}, // longer than any resource
		{"https://evil.example/a/mcp", "", ""},
		{"https://h.example/a/mcp#frag", "", ""},
	}
	for _, tt := range tests {
		r, ok := reg.Lookup(tt.raw)
		if got := r.Name; ok != (tt.lookup != "") || got != tt.lookup {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.raw, got, ok, tt.lookup)
		}
		r, ok = reg.Match(tt.raw)
		if got := r.Name; ok != (tt.match != "") || got != tt.match {
			t.Errorf("Match(%q) = %q, %v; want %q", tt.raw, got, ok, tt.match)
		}
	}
	if _, ok := reg.Default(); ok {
		t.Error("Default() with three resources should be false")
	}
	// The registry hands out copies.
	r, _ := reg.Lookup("https://h.example/a/mcp")
	r.Scopes[0] = "changed"
	if r2, _ := reg.Lookup("https://h.example/a/mcp"); r2.Scopes[0] != "a" {
		t.Error("Lookup result shares its Scopes slice with the registry")
	}
}

func TestRegistry_DefaultAndScopes(t *testing.T) {
	reg, err := NewRegistry(Resource{URL: "https://h/mcp", Scopes: []string{"a", "offline_access", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := reg.Default()
	if !ok || d.URL != "https://h/mcp" {
		t.Fatalf("Default() = %v, %v", d, ok)
	}
	if got := strings.Join(reg.Scopes(), " "); got != "a offline_access b" {
		t.Errorf("Scopes() = %q", got)
	}
	if got := strings.Join(d.PublishedScopes(), " "); got != "a b" {
		t.Errorf("PublishedScopes() = %q, want offline_access removed", got)
	}
}
