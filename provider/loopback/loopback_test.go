package loopback_test

import (
	"net/netip"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// TestIsHostAndIsIP pins the one loopback definition (issue 10 §5, issue 14 finding 13):
// the host text is parsed as an IP address, never matched by prefix or resolved.
func TestIsHostAndIsIP(t *testing.T) {
	for _, tc := range []struct {
		host       string
		ip, isHost bool
	}{
		{"127.0.0.1", true, true},
		{"127.0.0.2", true, true},
		{"127.255.255.254", true, true},
		{"::1", true, true},
		{"[::1]", true, true},
		{"0:0:0:0:0:0:0:1", true, true},
		{"::ffff:127.0.0.1", true, true}, // IPv4-mapped: the same socket
		{"[::ffff:127.0.0.1]", true, true},
		{"localhost", false, true},
		{"LOCALHOST", false, true},
		{"LocalHost", false, true},

		{"127.attacker.example", false, false}, // finding 13: a name, not 127.0.0.0/8
		{"127.0.0.1.nip.io", false, false},     // a name that resolves to 127.0.0.1 today
		{"localhost.", false, false},           // absolute name: up to the resolver
		{"app.localhost", false, false},
		{"localhost.attacker.example", false, false},
		{"127.1", false, false},      // shortened IPv4 form
		{"0127.0.0.1", false, false}, // leading zero: octal to some resolvers
		{"2130706433", false, false}, // 127.0.0.1 as an integer
		{"0x7f.0.0.1", false, false},
		{"::1%lo", false, false}, // zone
		{"[::1", false, false},
		{"::2", false, false},
		{"::", false, false},
		{"0.0.0.0", false, false},
		{"128.0.0.1", false, false},
		{"10.0.0.1", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"", false, false},
		{" 127.0.0.1", false, false},
		{"127.0.0.1:80", false, false},
	} {
		if got := loopback.IsIP(tc.host); got != tc.ip {
			t.Errorf("IsIP(%q) = %v, want %v", tc.host, got, tc.ip)
		}
		if got := loopback.IsHost(tc.host); got != tc.isHost {
			t.Errorf("IsHost(%q) = %v, want %v", tc.host, got, tc.isHost)
		}
	}
}

// TestIsAddr covers parsed addresses, as a dialer sees them.
func TestIsAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "::ffff:127.0.0.1": true,
		"::1%eth0": false, "10.1.1.1": false, "::": false, "169.254.1.1": false,
	} {
		if got := loopback.IsAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsAddr(%s) = %v, want %v", s, got, want)
		}
	}
	if loopback.IsAddr(netip.Addr{}) {
		t.Error("the zero Addr is loopback")
	}
}
