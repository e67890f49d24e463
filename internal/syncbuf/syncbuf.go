// Package syncbuf provides Buffer, a byte buffer safe for concurrent use: the log sink of
// tests that read what a server logged while its goroutines go on writing.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer behind a mutex. The zero value is empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len returns how many bytes were written so far: a mark for Since.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// Since returns what was written after Len returned mark.
func (b *Buffer) Since(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b.Bytes()[min(mark, b.b.Len()):])
}
