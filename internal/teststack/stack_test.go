package teststack_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
)

// TestStart_ErrorClosesListeners: when the stack cannot start (here: no storage, so
// mcp.New refuses), the listener it was given is closed, not leaked.
func TestStart_ErrorClosesListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	st, err := teststack.New(t.Context(), teststack.Conformance(nil, teststack.ConformanceOptions{Listener: ln, OtherResource: true}))
	if err == nil {
		st.Close()
		t.Fatal("Start without storage succeeded")
	}
	// A listener left open would block in Accept: the deadline turns that into a failure.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on the given listener after a failed Start: %v, want net.ErrClosed", err)
	}
}
