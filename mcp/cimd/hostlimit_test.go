package cimd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
)

// loopbackCert is a self-signed certificate for the loopback addresses 127.0.0.1–4, so
// that document servers can be distinct hosts (IP addresses) on one machine.
func loopbackCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "cimd host limit test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3), net.IPv4(127, 0, 0, 4)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// hostServer is an HTTPS document server on one loopback address. Slow servers hold
// every request until released; fast ones answer at once. It records the most requests
// it had in progress at once.
type hostServer struct {
	srv              *httptest.Server
	release          chan struct{}
	inFlight, maxNow atomic.Int32
	started          atomic.Int32
}

func newHostServer(t *testing.T, addr string, cert tls.Certificate, slow bool) *hostServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (needs the whole 127.0.0.0/8 on loopback, as on Linux): %v", addr, err)
	}
	h := &hostServer{release: make(chan struct{})}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		h.started.Add(1)
		for m := h.maxNow.Load(); n > m && !h.maxNow.CompareAndSwap(m, n); m = h.maxNow.Load() {
		}
		if slow {
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		}
		clientID := "https://" + r.Host + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(validDoc(clientID))
	}))
	h.srv.Listener.Close()
	h.srv.Listener = ln
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.StartTLS()
	t.Cleanup(func() {
		h.stop()
		h.srv.Close()
	})
	return h
}

// stop releases the held requests (once).
func (h *hostServer) stop() {
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

// limitedResolver returns a resolver trusting pool, allowed to fetch from loopback, with
// the given fetch limits and a 10 s timeout (longer than any test waits).
func limitedResolver(t *testing.T, pool *x509.CertPool, total, perHost int) *cimd.Resolver {
	t.Helper()
	r, err := cimd.New(&cimd.Options{
		Timeout:                     10 * time.Second,
		MaxConcurrentFetches:        total,
		MaxConcurrentFetchesPerHost: perHost,
		AllowAddress:                func(a netip.Addr) bool { return a.IsLoopback() },
		RootCAs:                     pool,
		Logger:                      quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// settle waits until inFlight reports at least n requests (at most 5 s), then a little
// longer so that any request beyond a limit would have arrived too, and returns the count.
func settle(inFlight func() int32, n int32) int32 {
	deadline := time.Now().Add(5 * time.Second)
	for inFlight() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	return inFlight()
}

// Issue 14 finding 11: slow attacker-chosen document URLs held every fetch slot, so a
// legitimate client's first fetch waited seconds. Fetches are bounded per host
// (MaxConcurrentFetchesPerHost) before they take one of MaxConcurrentFetches: one slow
// host holds at most its share, and a fast host's fetch runs at once.
func TestIssue14Finding11_SlowHostDoesNotDelayOtherHosts(t *testing.T) {
	cert, pool := loopbackCert(t)
	slow := newHostServer(t, "127.0.0.1", cert, true)
	fast := newHostServer(t, "127.0.0.2", cert, false)
	r := limitedResolver(t, pool, 4, 2)

	// Ten distinct slow URLs (each its own fetch), more than every slot.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.ResolveClient(ctx, fmt.Sprintf("%s/slow/%d", slow.srv.URL, i))
		}()
	}
	defer func() {
		cancel()
		slow.stop()
		wg.Wait()
	}()
	if n := settle(slow.inFlight.Load, 2); n != 2 {
		t.Fatalf("slow host has %d fetches in progress, want its limit 2", n)
	}

	start := time.Now()
	fastCtx, fastCancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer fastCancel()
	c, err := r.ResolveClient(fastCtx, fast.srv.URL+"/client.json")
	if err != nil {
		t.Fatalf("the fast host's fetch while the slow host hangs: %v (after %v)", err, time.Since(start))
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the fast host's fetch took %v while the slow host hung", took)
	}
	if c.ID != fast.srv.URL+"/client.json" {
		t.Errorf("resolved %q", c.ID)
	}
	if m := slow.maxNow.Load(); m > 2 {
		t.Errorf("slow host saw %d fetches at once, want at most 2", m)
	}
}

// MaxConcurrentFetches still bounds the total: slow hosts each within their own limit
// together get no more than the global slots.
func TestResolver_MaxConcurrentFetchesAcrossHosts(t *testing.T) {
	cert, pool := loopbackCert(t)
	hosts := []*hostServer{
		newHostServer(t, "127.0.0.1", cert, true),
		newHostServer(t, "127.0.0.3", cert, true),
		newHostServer(t, "127.0.0.4", cert, true),
	}
	r := limitedResolver(t, pool, 3, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, h := range hosts {
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = r.ResolveClient(ctx, fmt.Sprintf("%s/slow/%d", h.srv.URL, i))
			}()
		}
	}
	defer func() {
		cancel()
		for _, h := range hosts {
			h.stop()
		}
		wg.Wait()
	}()
	total := func() (n int32) {
		for _, h := range hosts {
			n += h.inFlight.Load()
		}
		return n
	}
	if n := settle(total, 3); n != 3 {
		t.Fatalf("%d fetches in progress across hosts, want MaxConcurrentFetches 3", n)
	}
	for _, h := range hosts {
		if m := h.maxNow.Load(); m > 2 {
			t.Errorf("host %s saw %d fetches at once, want at most 2", h.srv.URL, m)
		}
	}
}
