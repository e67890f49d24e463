package netguard

import (
	"net/netip"
)

// blockedV4 are the IPv4 ranges the guard refuses: everything that is not globally
// reachable unicast (RFC 6890 and the IANA special-purpose registry).
var blockedV4 = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network / unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved / broadcast"},
}

// IPv6 ranges with special handling.
var (
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	nat64           = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: embeds an IPv4 address
	sixToFour       = netip.MustParsePrefix("2002::/16")    // RFC 3056: embeds an IPv4 address
	blockedV6       = []struct {
		prefix netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments (Teredo, ORCHID…)"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
	}
)

// CheckAddress reports why the SSRF guard refuses a connection to addr, or "" when it
// allows it. Allowed are globally reachable unicast addresses: IPv4 outside the special
// ranges (loopback, private, link-local, CGNAT, multicast, reserved, documentation…),
// IPv6 in 2000::/3 outside its special ranges, and IPv6 forms embedding an IPv4
// address (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16) only when the
// embedded address is allowed. Zoned addresses are refused.
func CheckAddress(addr netip.Addr) (reason string) {
	if !addr.IsValid() {
		return "invalid address"
	}
	if addr.Zone() != "" {
		return "zoned (link-local) address"
	}
	addr = addr.Unmap()
	if addr.Is4() {
		for _, b := range blockedV4 {
			if b.prefix.Contains(addr) {
				return b.reason
			}
		}
		return ""
	}
	switch {
	case nat64.Contains(addr):
		b := addr.As16()
		if r := CheckAddress(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); r != "" {
			return "NAT64 of a " + r + " address"
		}
		return ""
	case sixToFour.Contains(addr):
		b := addr.As16()
		if r := CheckAddress(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})); r != "" {
			return "6to4 of a " + r + " address"
		}
		return ""
	case addr.IsLoopback():
		return "loopback"
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsLinkLocalUnicast():
		return "link-local"
	case addr.IsMulticast():
		return "multicast"
	case addr.IsPrivate():
		return "private (unique local)"
	case !globalUnicastV6.Contains(addr):
		return "not global unicast"
	}
	for _, b := range blockedV6 {
		if b.prefix.Contains(addr) {
			return b.reason
		}
	}
	return ""
}
