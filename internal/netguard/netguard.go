// Package netguard is the module's one SSRF guard: an http.Client for fetching URLs
// that someone else chose (client ID metadata documents, clients' jwks_uri, identity
// providers' key sets), which connects only to globally reachable unicast addresses.
//
// The check runs in the dialer's Control function, for every connection attempt, with
// the address the name resolved to, just before connect(2): a host name that resolves
// (or re-resolves, DNS rebinding) to a loopback, private, link-local, CGNAT, multicast,
// unspecified, reserved or documentation address is refused, including such IPv4
// addresses embedded in IPv6 (IPv4-mapped, NAT64, 6to4); see CheckAddress. No proxy
// from the environment is used (the guard must see the real peer), redirects are not
// followed, and only https URLs are fetched (http only for a loopback host, which the
// guard refuses unless Options.AllowAddress admits it: the test hook).
package netguard

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// ErrAddressNotAllowed is the error (wrapped in the dial error) for a connection to an
// address the guard refuses.
var ErrAddressNotAllowed = errors.New("netguard: address not allowed")

// ErrSchemeNotAllowed is the error (wrapped in the request error) for a URL that is
// neither https nor http on a loopback host.
var ErrSchemeNotAllowed = errors.New("netguard: only https URLs are fetched")

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 10 * time.Second

// Options configures NewClient and NewTransport. The zero value gives the defaults.
type Options struct {
	// Timeout bounds connecting, the TLS handshake and waiting for the response
	// headers, and (NewClient) the whole request including reading the body. Default
	// 10 s: a fetch made while a client waits must not hold it for long.
	Timeout time.Duration

	// AllowAddress, when set, admits addresses CheckAddress refuses when it returns true.
	// It is asked at dial time with the resolved address. Nil by default: only public
	// addresses. Tests serving documents on loopback set it to AllowLoopback; a
	// deployment that must reach a host on a private network can admit that network.
	AllowAddress func(netip.Addr) bool

	// RootCAs are the certificate authorities trusted for TLS. Nil means the system
	// roots. Set it for tests or a private PKI.
	RootCAs *x509.CertPool
}

// AllowLoopback is the documented test hook for Options.AllowAddress: it admits
// loopback addresses (127.0.0.0/8, ::1), where httptest servers listen, and nothing
// else the guard refuses. Production code leaves AllowAddress nil.
func AllowLoopback(addr netip.Addr) bool { return loopback.IsAddr(addr) }

// NewClient returns an http.Client whose connections pass the guard (see NewTransport),
// bounded by o.Timeout, which does not follow redirects (a redirect is returned as the
// response, for the caller to refuse).
func NewClient(o Options) *http.Client {
	o = o.withDefaults()
	return &http.Client{
		Transport: NewTransport(o),
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// NewTransport returns an http.RoundTripper that refuses URLs other than https (http
// only for a loopback host) and connections to addresses CheckAddress refuses (unless
// o.AllowAddress admits them), never uses a proxy, requires TLS 1.2, and caps response
// headers at 16 KiB.
func NewTransport(o Options) http.RoundTripper {
	o = o.withDefaults()
	dialer := &net.Dialer{
		Timeout:   o.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   guard{allow: o.AllowAddress}.control,
	}
	return &transport{next: &http.Transport{
		Proxy:                  nil, // never a proxy from the environment: the guard checks the real peer
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableCompression:     true,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        60 * time.Second,
	}}
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// transport checks the URL's scheme before handing the request to the guarded
// http.Transport.
type transport struct{ next *http.Transport }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !(r.URL.Scheme == "http" && loopback.IsHost(r.URL.Hostname())) {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, fmt.Errorf("%w: %q", ErrSchemeNotAllowed, r.URL.Scheme)
	}
	return t.next.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the underlying transport (for
// http.Client.CloseIdleConnections).
func (t *transport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// guard is the net.Dialer Control function: it runs for every connection attempt, with
// the resolved address, just before connect(2).
type guard struct {
	// allow, when set, admits addresses the rules refuse (Options.AllowAddress).
	allow func(netip.Addr) bool
}

func (g guard) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %s", ErrAddressNotAllowed, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s is not an IP address", ErrAddressNotAllowed, address)
	}
	reason := CheckAddress(ap.Addr())
	if reason == "" || (g.allow != nil && g.allow(ap.Addr())) {
		return nil
	}
	return fmt.Errorf("%w: %s (%s)", ErrAddressNotAllowed, ap.Addr(), reason)
}
