// Package loopback decides whether a URL's host names this machine: the one definition
// every package of this module uses (redirect URIs, issuers, metadata URLs, JWKS URLs,
// the demo, the conformance suite, the load harness).
//
// Hosts are judged by their text alone, never by resolving them: "127.attacker.example"
// and "127.0.0.1.nip.io" are names that DNS may point anywhere, so they are not
// loopback whatever they resolve to today. Two questions are kept apart because call
// sites need different answers:
//
//   - [IsIP]: an IP literal in 127.0.0.0/8 or ::1. RFC 8252 §7.3 and §8.3 want these
//     for native apps' redirect URIs: a literal cannot be redirected by a hosts file or
//     resolver, and only literals get the any-port rule without a compatibility shim.
//   - [IsHost]: IsIP, or the name "localhost" (RFC 6761 §6.3 reserves it for
//     loopback). For "http is tolerated on this machine" rules: issuers, redirect URIs,
//     metadata and JWKS URLs in development.
package loopback

import (
	"net/netip"
	"strings"
)

// IsIP reports whether host is a loopback IP literal: an IPv4 address in 127.0.0.0/8,
// the IPv6 address ::1, or an IPv4-mapped IPv6 address of 127.0.0.0/8
// (::ffff:127.0.0.1, which reaches the same socket). host is a URL's hostname; IPv6
// literals may keep their brackets ("[::1]"). Zones ("::1%lo"), leading zeros
// ("0127.0.0.1", which some resolvers read as octal), shortened forms ("127.1") and
// names are refused.
func IsIP(host string) bool {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && IsAddr(addr)
}

// IsAddr reports whether addr is a loopback address (127.0.0.0/8, ::1, or 127.0.0.0/8
// mapped into IPv6) without a zone: IsIP for an address already parsed, for example the
// one a dialer is about to connect to.
func IsAddr(addr netip.Addr) bool {
	return addr.IsValid() && addr.Zone() == "" && addr.Unmap().IsLoopback()
}

// IsHost reports whether host is a loopback IP literal (see IsIP) or the name
// "localhost" in any letter case. "localhost." (the absolute form), subdomains such as
// "app.localhost" and every other name are refused: what they resolve to is up to the
// resolver.
func IsHost(host string) bool {
	return strings.EqualFold(host, "localhost") || IsIP(host)
}
