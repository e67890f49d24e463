package main

import (
	"io"
	"testing"
)

// TestTrustIdPFlag: -trust-idp ISSUER=JWKS_URL is repeatable; a value without both parts
// is refused.
func TestTrustIdPFlag(t *testing.T) {
	f, err := parseServeFlags([]string{"-trust-idp", "https://a.example=https://a.example/jwks", "-trust-idp", "https://b.example=https://b.example/keys"}, io.Discard)
	if err != nil || len(f.trustIdPs) != 2 || f.trustIdPs[1] != (trustedIdP{"https://b.example", "https://b.example/keys"}) {
		t.Fatalf("parsed %+v, %v", f.trustIdPs, err)
	}
	for _, bad := range []string{"https://a.example", "=https://a.example/jwks", "https://a.example="} {
		if _, err := parseServeFlags([]string{"-trust-idp", bad}, io.Discard); err == nil {
			t.Errorf("-trust-idp %q: no error", bad)
		}
	}
}
