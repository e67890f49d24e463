package conformance_test

import (
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/test/conformance/internal/stack"
)

// newStack starts the system under test on store s (see package stack); the lead will
// switch it to the demo server.
func newStack(t *testing.T, s provider.Storage, opts stack.Options) *stack.Stack {
	t.Helper()
	st, err := stack.Start(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
