package cimd_test

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
)

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)

// docRedirect is the redirect URI of the test documents (loopback, any port).
const docRedirect = "http://127.0.0.1/callback"

// docServer serves client ID metadata documents over HTTPS on loopback and counts the
// requests per path.
type docServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	routes   map[string]http.HandlerFunc
	requests map[string]int
	headers  []http.Header
}

func newDocServer(t testing.TB) *docServer {
	t.Helper()
	d := &docServer{routes: map[string]http.HandlerFunc{}, requests: map[string]int{}}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.requests[r.URL.Path]++
		d.headers = append(d.headers, r.Header.Clone())
		h := d.routes[r.URL.Path]
		d.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	return d
}

// url returns the client ID of the document at path ("https://127.0.0.1:port/path").
func (d *docServer) url(path string) string { return d.srv.URL + path }

// handle serves path with h.
func (d *docServer) handle(path string, h http.HandlerFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.routes[path] = h
}

// serve serves doc as JSON at path with the Cache-Control header cc (none when empty).
func (d *docServer) serve(path string, doc map[string]any, cc string) {
	body, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	d.serveRaw(path, "application/json", string(body), cc)
}

// serveRaw serves body with contentType at path.
func (d *docServer) serveRaw(path, contentType, body, cc string) {
	d.handle(path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		_, _ = io.WriteString(w, body)
	})
}

// count returns how many requests path received.
func (d *docServer) count(path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests[path]
}

// lastHeader returns the last request's header.
func (d *docServer) lastHeader() http.Header {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.headers) == 0 {
		return nil
	}
	return d.headers[len(d.headers)-1]
}

// roots trusts the server's certificate.
func (d *docServer) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(d.srv.Certificate())
	return pool
}

// resolver returns a Resolver trusting the server that may connect to loopback (the
// test-only relaxation of the SSRF guard), with opts' other settings.
func (d *docServer) resolver(t testing.TB, opts *cimd.Options) *cimd.Resolver {
	t.Helper()
	var o cimd.Options
	if opts != nil {
		o = *opts
	}
	if o.AllowAddress == nil {
		o.AllowAddress = func(a netip.Addr) bool { return a.IsLoopback() }
	}
	if o.RootCAs == nil {
		o.RootCAs = d.roots()
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	r, err := cimd.New(&o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// validDoc is a minimal valid document for clientID.
func validDoc(clientID string) map[string]any {
	return map[string]any{
		"client_id":     clientID,
		"client_name":   "Example MCP Client",
		"redirect_uris": []string{docRedirect},
	}
}

// with returns doc with the members of extra set (nil values delete).
func with(doc map[string]any, extra map[string]any) map[string]any {
	out := maps.Clone(doc)
	for k, v := range extra {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
