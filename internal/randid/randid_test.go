package randid_test

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/randid"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		wantLen int // encoded length
	}{
		{"Secret is 256 bits", randid.Secret, 43},
		{"Unique is 128 bits", randid.Unique, 22},
		{"zero bytes", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := randid.New(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != tc.wantLen {
				t.Fatalf("len(%q) = %d, want %d", a, len(a), tc.wantLen)
			}
			raw, err := base64.RawURLEncoding.DecodeString(a)
			if err != nil || len(raw) != tc.n {
				t.Fatalf("%q is not %d bytes of base64url: %v", a, tc.n, err)
			}
			if tc.n == 0 {
				return
			}
			b, _ := randid.New(tc.n)
			if a == b {
				t.Fatalf("two calls returned %q", a)
			}
		})
	}
}

// TestOrdered: an ordered ID is the creation time in milliseconds (6 bytes) and the random
// bytes, base32hex; IDs made later sort after IDs made earlier, and two made in the same
// millisecond differ.
func TestOrdered(t *testing.T) {
	before := time.Now().UnixMilli()
	a, err := randid.Ordered(randid.Unique)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := randid.Ordered(randid.Unique)
	after := time.Now().UnixMilli()
	raw, err := base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString(a)
	if err != nil || len(raw) != 6+randid.Unique || len(a) != 36 {
		t.Fatalf("%q (%d characters) is not 22 bytes of base32hex: %v", a, len(a), err)
	}
	var ms [8]byte
	copy(ms[2:], raw[:6])
	if at := int64(binary.BigEndian.Uint64(ms[:])); at < before || at > after {
		t.Errorf("%q says %d, made within [%d, %d]", a, at, before, after)
	}
	if a == b {
		t.Fatalf("two calls returned %q", a)
	}
	time.Sleep(2 * time.Millisecond)
	c, _ := randid.Ordered(randid.Unique)
	if c <= a || c <= b {
		t.Errorf("%q made later sorts before %q or %q", c, a, b)
	}
}
