package lists_test

import (
	"slices"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/lists"
)

func TestDedupe(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"nil", nil, []string{}},
		{"empty", []string{}, []string{}},
		{"only empty strings", []string{"", ""}, []string{}},
		{"no repeats", []string{"b", "a"}, []string{"b", "a"}},
		{"repeats keep the first occurrence's order", []string{"b", "a", "b", "c", "a"}, []string{"b", "a", "c"}},
		{"empty strings dropped", []string{"", "code", "", "code"}, []string{"code"}},
		{"case matters", []string{"A", "a"}, []string{"A", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lists.Dedupe(tc.in)
			if got == nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Dedupe(%q) = %#v, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDedupeDoesNotShareInput(t *testing.T) {
	in := []string{"a", "b"}
	out := lists.Dedupe(in)
	out[0] = "x"
	if in[0] != "a" {
		t.Fatal("Dedupe's result shares the input's backing array")
	}
}
