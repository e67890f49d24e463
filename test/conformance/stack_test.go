package conformance_test

import (
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// newStack starts the in-process stack on store s (teststack.Conformance): the suite's
// tests of the library itself and the deliberately broken doubles run against it. The
// real demo server is tested as a subprocess in demo_test.go.
func newStack(t *testing.T, s provider.Storage, opts teststack.ConformanceOptions) *teststack.Stack {
	t.Helper()
	return teststack.Start(t, teststack.Conformance(s, opts))
}
