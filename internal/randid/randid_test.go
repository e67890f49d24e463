package randid_test

import (
	"encoding/base64"
	"testing"

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
