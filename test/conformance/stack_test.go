package conformance_test

import (
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/test/conformance/internal/stack"
)

// newStack starts the in-process stack on store s (see package stack): the suite's
// tests of the library itself and the deliberately broken doubles run against it. The
// real demo server is tested as a subprocess in demo_test.go.
func newStack(t *testing.T, s provider.Storage, opts stack.Options) *stack.Stack {
	t.Helper()
	st, err := stack.Start(t.Context(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
