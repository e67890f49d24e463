package netguard_test

import (
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
)

// countingServer is an HTTPS server on loopback that counts its requests and answers
// "ok", or a redirect to /elsewhere on /redirect.
func countingServer(t *testing.T, tls bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, &n
}

// roots returns Options trusting srv's certificate (when it has one).
func roots(srv *httptest.Server) *netguard.Options {
	o := &netguard.Options{}
	if cert := srv.Certificate(); cert != nil {
		o.RootCAs = x509.NewCertPool()
		o.RootCAs.AddCert(cert)
	}
	return o
}

// SSRF: without the test hook, a loopback address is refused when the connection is
// dialed, for an IP literal and for a name resolving to loopback (localhost): the check
// is on the resolved address, so DNS rebinding cannot get around it. Nothing reaches
// the server.
func TestClient_DefaultRefusesLoopback(t *testing.T) {
	srv, n := countingServer(t, true)
	c := netguard.NewClient(*roots(srv))
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	for _, u := range []string{
		"https://127.0.0.1:" + port + "/",
		"https://localhost:" + port + "/",
		"https://127.9.9.9:" + port + "/",
		"http://127.0.0.1:" + port + "/",
	} {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded", u)
			continue
		}
		if !errors.Is(err, netguard.ErrAddressNotAllowed) {
			t.Errorf("GET %s: %v, want ErrAddressNotAllowed", u, err)
		}
	}
	if n.Load() != 0 {
		t.Fatalf("the server saw %d requests", n.Load())
	}
}

// The test hook: AllowLoopback admits loopback, so tests can serve documents from
// httptest servers, over https and (on loopback only) http.
func TestClient_AllowLoopbackTestHook(t *testing.T) {
	for _, tls := range []bool{true, false} {
		srv, n := countingServer(t, tls)
		o := roots(srv)
		o.AllowAddress = netguard.AllowLoopback
		resp, err := netguard.NewClient(*o).Get(srv.URL + "/")
		if err != nil {
			t.Fatalf("tls=%v: %v", tls, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n.Load() != 1 {
			t.Fatalf("tls=%v: status %d, %d requests", tls, resp.StatusCode, n.Load())
		}
	}
	for _, a := range []string{"10.0.0.1", "169.254.169.254", "192.168.1.1", "::ffff:10.0.0.1"} {
		if netguard.AllowLoopback(netip.MustParseAddr(a)) {
			t.Errorf("AllowLoopback admits %s", a)
		}
	}
}

// Only https is fetched: http to a host that is not loopback, and other schemes, are
// refused before any connection, whatever AllowAddress admits.
func TestClient_HTTPSOnly(t *testing.T) {
	c := netguard.NewClient(netguard.Options{AllowAddress: func(netip.Addr) bool { return true }})
	for _, u := range []string{"http://example.com/jwks.json", "http://10.0.0.1/", "ftp://example.com/x"} {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded", u)
			continue
		}
		if !errors.Is(err, netguard.ErrSchemeNotAllowed) {
			t.Errorf("GET %s: %v, want ErrSchemeNotAllowed", u, err)
		}
	}
}

// Redirects are not followed: a 3xx is returned as the response, for the caller to
// refuse, so a redirect cannot point a fetch elsewhere.
func TestClient_RedirectNotFollowed(t *testing.T) {
	srv, n := countingServer(t, true)
	o := roots(srv)
	o.AllowAddress = netguard.AllowLoopback
	resp, err := netguard.NewClient(*o).Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || n.Load() != 1 {
		t.Fatalf("status %d after %d requests, want the 302 itself", resp.StatusCode, n.Load())
	}
}
