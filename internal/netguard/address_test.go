package netguard_test

import (
	"net/netip"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
)

// draft-ietf-oauth-client-id-metadata-document-00 §6.5 (SSRF): only globally reachable
// unicast addresses may be fetched from, whatever form the address takes.
func TestCheckAddress_Section6_5(t *testing.T) {
	cases := []struct {
		addr    string
		allowed bool
	}{
		{"93.184.215.14", true},
		{"8.8.8.8", true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"64:ff9b::808:808", true},  // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},   // 6to4 of 8.8.8.8
		{"::ffff:8.8.8.8", true},    // IPv4-mapped public
		{"100.63.255.255", true},    // just below CGNAT
		{"100.128.0.0", true},       // just above CGNAT
		{"172.32.0.1", true},        // just above 172.16/12
		{"0.0.0.0", false},          // unspecified
		{"0.1.2.3", false},          // this network
		{"127.0.0.1", false},        // loopback
		{"127.255.255.254", false},  // loopback /8
		{"10.0.0.1", false},         // private
		{"172.16.0.1", false},       // private
		{"172.31.255.255", false},   // private
		{"192.168.1.1", false},      // private
		{"169.254.169.254", false},  // link-local (cloud metadata)
		{"100.64.0.1", false},       // CGNAT
		{"100.127.255.255", false},  // CGNAT
		{"192.0.0.170", false},      // IETF protocol assignments
		{"192.0.2.1", false},        // documentation
		{"198.18.0.1", false},       // benchmarking
		{"198.51.100.1", false},     // documentation
		{"203.0.113.1", false},      // documentation
		{"224.0.0.1", false},        // multicast
		{"239.255.255.250", false},  // multicast
		{"240.0.0.1", false},        // reserved
		{"255.255.255.255", false},  // broadcast
		{"::", false},               // unspecified
		{"::1", false},              // loopback
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},  // IPv4-mapped private
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},        // IPv4-compatible (deprecated)
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b:1::1", false},       // local-use NAT64
		{"2002:7f00:1::1", false},     // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", false},   // 6to4 of 192.168.1.1
		{"fe80::1", false},            // link-local
		{"fe80::1%eth0", false},       // zoned
		{"fc00::1", false},            // unique local
		{"fd12:3456::1", false},       // unique local
		{"fec0::1", false},            // site-local (deprecated)
		{"ff02::1", false},            // multicast
		{"2001::1", false},            // Teredo
		{"2001:db8::1", false},        // documentation
		{"3fff::1", false},            // documentation
		{"100::1", false},             // discard-only
	}
	for _, c := range cases {
		a, err := netip.ParseAddr(c.addr)
		if err != nil {
			t.Fatalf("%s: %v", c.addr, err)
		}
		reason := netguard.CheckAddress(a)
		if (reason == "") != c.allowed {
			t.Errorf("CheckAddress(%s) = %q, want allowed=%v", c.addr, reason, c.allowed)
		}
	}
	if netguard.CheckAddress(netip.Addr{}) == "" {
		t.Error("the zero address is allowed")
	}
}
