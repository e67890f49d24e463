package cimd

import (
	"net/netip"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
)

// ErrAddressNotAllowed is the error (wrapped in the dial error) for a connection to an
// address the SSRF guard refuses. The guard is the module's one (internal/netguard),
// shared with the jwks_uri key fetcher.
var ErrAddressNotAllowed = netguard.ErrAddressNotAllowed

// CheckAddress reports why the SSRF guard refuses a connection to addr, or "" when it
// allows it. Allowed are globally reachable unicast addresses: IPv4 outside the special
// ranges (loopback, private, link-local, CGNAT, multicast, reserved, documentation…),
// IPv6 in 2000::/3 outside its special ranges, and IPv6 forms embedding an IPv4
// address (IPv4-mapped, NAT64, 6to4) only when the embedded address is allowed. Zoned
// addresses are refused.
func CheckAddress(addr netip.Addr) (reason string) { return netguard.CheckAddress(addr) }
