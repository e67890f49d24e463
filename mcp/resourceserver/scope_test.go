package resourceserver

import (
	"slices"
	"testing"
)

// MCP 2026-07-28: resource servers honour scope hierarchies; the rule is documented on
// ScopeSatisfies.
func TestScopeSatisfies_Hierarchy(t *testing.T) {
	tests := []struct {
		granted, required string
		want              bool
	}{
		{"files", "files", true},
		{"files", "files:read", true},
		{"files", "files:read:meta", true},
		{"files:read", "files:read:meta", true},
		{"files:read", "files", false},
		{"files:read", "files:write", false},
		{"file", "files:read", false},
		{"files:", "files:read", false},
		{"", "files", false},
		{"files", "", false},
		{"a:b", "a:bc", false},
	}
	for _, tt := range tests {
		if got := ScopeSatisfies(tt.granted, tt.required); got != tt.want {
			t.Errorf("ScopeSatisfies(%q, %q) = %v, want %v", tt.granted, tt.required, got, tt.want)
		}
	}
	if got := MissingScopes([]string{"files", "mail:read"}, []string{"files:write", "mail:send", "mail:read"}); !slices.Equal(got, []string{"mail:send"}) {
		t.Errorf("MissingScopes = %q", got)
	}
	if got := MissingScopes(nil, nil); got != nil {
		t.Errorf("MissingScopes(nil, nil) = %q", got)
	}
}
