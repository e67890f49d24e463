package ratelimit

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// XForwardedFor is the header reverse proxies append the client's address to.
const XForwardedFor = "X-Forwarded-For"

// ClientIP says how a request's client address is found. The zero value uses the
// connection's address (Request.RemoteAddr), which a client cannot forge.
//
// Behind a reverse proxy every request comes from the proxy; list it in TrustedProxies
// and the address is taken from the header the proxy sets. Trusting a header is safe
// only when every request reaches the server through those proxies and they set or
// append the header: a client that can reach the server directly, or through a proxy
// that passes the header on unchanged, chooses its own address and with it its own
// bucket, escaping the limit and spending other clients' buckets.
type ClientIP struct {
	// TrustedProxies are the networks of the reverse proxies in front of the server.
	// Header is read only for requests whose connection comes from one of them. Empty:
	// no header is trusted. They must not cover the clients' own addresses: a client
	// inside them is indistinguishable from a proxy, so the rightmost entry stands for it,
	// and behind two such proxies every client shares the nearer one's limit. A single
	// proxy whose address is unknown (some hosting platforms) can be trusted with
	// 0.0.0.0/0 and ::/0, when nothing else can reach the server: the client is then the
	// address that proxy appended. Behind several proxies list their networks instead.
	TrustedProxies []netip.Prefix
	// Header is the header naming the client. Default X-Forwarded-For, of which the
	// rightmost address outside TrustedProxies is the client (the leftmost entries are
	// whatever the client sent), or the rightmost address when all are trusted. Another name, such as X-Real-IP or CF-Connecting-IP,
	// is read as a single address set by the proxy. A missing or malformed header
	// falls back to the connection's address.
	Header string
}

func (c ClientIP) validate() error {
	if c.Header != "" && len(c.TrustedProxies) == 0 {
		return errors.New("ratelimit: ClientIP.Header needs TrustedProxies (a header is only trusted from known proxies)")
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return errors.New("ratelimit: invalid prefix in ClientIP.TrustedProxies")
		}
	}
	return nil
}

// Key returns the bucket key of r's client: its IP address, or for IPv6 its /64
// network. A RemoteAddr that is not an IP address (a Unix socket) is used as it is.
func (c ClientIP) Key(r *http.Request) string {
	remote, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if c.trusted(remote) {
		if a, ok := c.fromHeader(r); ok {
			remote = a
		}
	}
	return addrKey(remote)
}

func (c ClientIP) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromHeader reads the client's address from the configured header.
func (c ClientIP) fromHeader(r *http.Request) (netip.Addr, bool) {
	name := c.Header
	if name == "" {
		name = XForwardedFor
	}
	values := r.Header.Values(name)
	if len(values) == 0 {
		return netip.Addr{}, false
	}
	if !strings.EqualFold(name, XForwardedFor) {
		return parseAddr(strings.TrimSpace(values[len(values)-1]))
	}
	// Several X-Forwarded-For fields form one list, in order (RFC 9110 §5.3).
	list := strings.Split(strings.Join(values, ","), ",")
	var nearest netip.Addr
	for i := len(list) - 1; i >= 0; i-- {
		a, ok := parseAddr(strings.TrimSpace(list[i]))
		if !ok {
			break // not written by a trusted proxy
		}
		if !c.trusted(a) {
			return a, true
		}
		if !nearest.IsValid() {
			nearest = a
		}
	}
	// No untrusted address before the list ends or turns malformed (TrustedProxies covers
	// everyone, or the client's own network): the rightmost entry, which the proxy that
	// connected appended. The entries left of it may be the client's own writing, and
	// taking one would let a client choose its bucket.
	return nearest, nearest.IsValid()
}

// parseAddr parses an IP address, with or without a port, brackets or zone.
func parseAddr(s string) (netip.Addr, bool) {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// addrKey is a's bucket key: IPv4 addresses as they are, IPv6 addresses by /64.
func addrKey(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
