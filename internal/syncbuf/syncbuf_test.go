package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/syncbuf"
)

// Concurrent writers lose nothing (run with -race), and Since returns what followed a mark.
func TestBuffer_ConcurrentWritesAndSince(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
	mark := b.Len()
	b.Write([]byte("after"))
	if got := b.Since(mark); got != "after" {
		t.Errorf("Since(mark) = %q, want %q", got, "after")
	}
	if got := b.Since(1 << 30); got != "" {
		t.Errorf("Since beyond the end = %q, want empty", got)
	}
}
