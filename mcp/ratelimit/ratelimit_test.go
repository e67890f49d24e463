package ratelimit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/ratelimit"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(t *testing.T, limit ratelimit.Limit, opts ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l, err := ratelimit.New(limit, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

func TestLimiter_BurstThenRetryAfter(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.PerMinute(60, 3), ratelimit.Options{Now: c.Now})
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("a")
	if ok {
		t.Fatal("request beyond the burst allowed")
	}
	if retry <= 0 || retry > time.Second {
		t.Errorf("retryAfter = %v, want (0, 1s] at 60/min", retry)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another client is refused: buckets are not per key")
	}
}

func TestLimiter_RefillsOverTime(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.PerMinute(6, 2), ratelimit.Options{Now: c.Now}) // one every 10 s
	l.Allow("a")
	l.Allow("a")
	if ok, retry := l.Allow("a"); ok || retry != 10*time.Second {
		t.Fatalf("empty bucket: ok=%v retryAfter=%v, want refused for 10s", ok, retry)
	}
	c.Advance(9 * time.Second)
	if ok, retry := l.Allow("a"); ok || retry != time.Second {
		t.Fatalf("after 9 s: ok=%v retryAfter=%v, want refused for 1s", ok, retry)
	}
	c.Advance(time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("after 10 s: refused, want one request refilled")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("only one request refilled after 10 s, but two were allowed")
	}
	c.Advance(time.Hour)
	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("after an hour: request %d refused, want a full burst of 2", i+1)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("the bucket refilled beyond its burst")
	}
}

func TestLimiter_ConcurrentRequestsGetExactlyTheBurst(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.PerMinute(60, 10), ratelimit.Options{Now: c.Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if ok, _ := l.Allow("a"); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 {
		t.Errorf("%d of 100 concurrent requests allowed, want the burst of 10", got)
	}
}

func TestLimiter_SprayedKeysStayBounded(t *testing.T) {
	c := newClock()
	const maxKeys = 1000
	l := newLimiter(t, ratelimit.PerMinute(60, 5), ratelimit.Options{Now: c.Now, MaxKeys: maxKeys})
	for i := range 100_000 {
		l.Allow("10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255))
		if i%1000 == 0 && l.Len() > maxKeys {
			t.Fatalf("after %d keys: %d tracked, want ≤ %d", i+1, l.Len(), maxKeys)
		}
	}
	if n := l.Len(); n > maxKeys || n < maxKeys/2 {
		t.Errorf("after 100000 keys: %d tracked, want ≤ %d (and the recent ones kept)", n, maxKeys)
	}
	// A client active during the spray keeps its (recent) bucket.
	for range 5 {
		l.Allow("attacker")
	}
	for i := range maxKeys - 1 {
		l.Allow(fmt.Sprintf("spray-%d", i))
	}
	if ok, _ := l.Allow("attacker"); ok {
		t.Error("a bucket used within the last MaxKeys clients was forgotten")
	}
}

func TestLimiter_ForgetsRefilledBuckets(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.PerMinute(60, 5), ratelimit.Options{Now: c.Now})
	for i := range 500 {
		l.Allow(strconv.Itoa(i))
	}
	if l.Len() != 500 {
		t.Fatalf("%d tracked, want 500", l.Len())
	}
	c.Advance(2 * time.Minute) // every bucket is full again
	for i := range 300 {
		l.Allow("new-" + strconv.Itoa(i))
	}
	if n := l.Len(); n > 300 {
		t.Errorf("%d tracked after the old buckets refilled, want ≤ 300: idle buckets must be forgotten", n)
	}
}

func TestLimiter_Unlimited(t *testing.T) {
	l := newLimiter(t, ratelimit.Unlimited(), ratelimit.Options{})
	for range 1000 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("Unlimited refused a request")
		}
	}
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := l.Wrap(h); fmt.Sprint(got) != fmt.Sprint(h) {
		t.Error("Wrap with Unlimited should return the handler itself")
	}
}

func TestNew_RejectsBadOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		limit ratelimit.Limit
		opts  ratelimit.Options
	}{
		"zero requests":                  {ratelimit.Limit{}, ratelimit.Options{}},
		"negative burst":                 {ratelimit.Limit{Requests: 1, Burst: -1}, ratelimit.Options{}},
		"negative MaxKeys":               {ratelimit.PerMinute(1, 1), ratelimit.Options{MaxKeys: -1}},
		"header without trusted proxies": {ratelimit.PerMinute(1, 1), ratelimit.Options{ClientIP: ratelimit.ClientIP{Header: "X-Real-IP"}}},
		"invalid trusted proxy prefix":   {ratelimit.PerMinute(1, 1), ratelimit.Options{ClientIP: ratelimit.ClientIP{TrustedProxies: []netip.Prefix{{}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ratelimit.New(tc.limit, tc.opts); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

// get sends a GET from remote through h.
func get(h http.Handler, remote string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/token", nil)
	r.RemoteAddr = remote
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

func TestWrap_429WithRetryAfterAndJSONBody_RFC6749Section5_2(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.PerMinute(2, 1), ratelimit.Options{Now: c.Now, Reject: ratelimit.JSONError})
	h := l.Wrap(http.HandlerFunc(ok))
	if w := get(h, "192.0.2.1:1234", nil); w.Code != http.StatusOK {
		t.Fatalf("first request: %d", w.Code)
	}
	w := get(h, "192.0.2.1:1234", nil)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("second request: %d, want 429", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After = %q, want 30 (seconds)", got)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := w.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Retry-After") {
		t.Errorf("Access-Control-Expose-Headers = %q: browsers cannot read Retry-After", got)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body["error"] != "temporarily_unavailable" || body["error_description"] == "" || len(body) != 2 {
		t.Errorf("body = %v, want error temporarily_unavailable and a description", body)
	}
	if w := get(h, "192.0.2.2:1234", nil); w.Code != http.StatusOK {
		t.Errorf("another address: %d, want 200", w.Code)
	}
	c.Advance(30 * time.Second)
	if w := get(h, "192.0.2.1:5555", nil); w.Code != http.StatusOK {
		t.Errorf("after Retry-After (another source port): %d, want 200", w.Code)
	}
}

func TestWrap_PlainErrorPageNeverRedirects(t *testing.T) {
	l := newLimiter(t, ratelimit.PerMinute(1, 1), ratelimit.Options{})
	h := l.Wrap(http.HandlerFunc(ok))
	get(h, "192.0.2.1:1", nil)
	w := get(h, "192.0.2.1:1", nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Location") != "" {
		t.Fatalf("status %d Location %q, want 429 without redirect", w.Code, w.Header().Get("Location"))
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	if s, _ := strconv.Atoi(w.Header().Get("Retry-After")); s < 59 || s > 60 {
		t.Errorf("Retry-After = %q, want 60", w.Header().Get("Retry-After"))
	}
}

func TestWrap_PreflightsNotCounted(t *testing.T) {
	l := newLimiter(t, ratelimit.PerMinute(1, 1), ratelimit.Options{})
	h := l.Wrap(http.HandlerFunc(ok))
	for range 5 {
		r := httptest.NewRequest(http.MethodOptions, "/token", nil)
		r.RemoteAddr = "192.0.2.1:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("preflight: %d", w.Code)
		}
	}
	if w := get(h, "192.0.2.1:1", nil); w.Code != http.StatusOK {
		t.Errorf("request after preflights: %d, want 200 (preflights must not spend the bucket)", w.Code)
	}
}

func TestWrap_LogsOncePerClientAndPeriod(t *testing.T) {
	c := newClock()
	var buf bytes.Buffer
	l := newLimiter(t, ratelimit.PerMinute(60, 1), ratelimit.Options{Now: c.Now, Name: "token",
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	h := l.Wrap(http.HandlerFunc(ok))
	for range 10 {
		get(h, "192.0.2.1:1", nil)
	}
	get(h, "192.0.2.2:1", nil)
	get(h, "192.0.2.2:1", nil)
	if n := strings.Count(buf.String(), "rate limit exceeded"); n != 2 {
		t.Fatalf("%d log lines for two refused clients, want 2:\n%s", n, &buf)
	}
	if !strings.Contains(buf.String(), "client=192.0.2.1") || !strings.Contains(buf.String(), "endpoint=token") {
		t.Errorf("log lacks the client or endpoint:\n%s", &buf)
	}
	c.Advance(61 * time.Second)
	get(h, "192.0.2.1:1", nil) // refilled: allowed
	get(h, "192.0.2.1:1", nil) // refused in a new period: logged again
	if n := strings.Count(buf.String(), "rate limit exceeded"); n != 3 {
		t.Errorf("%d log lines after a new period, want 3", n)
	}
}

func TestClientIP_Key(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name   string
		cfg    ratelimit.ClientIP
		remote string
		header http.Header
		want   string
	}{
		{"RemoteAddr by default", ratelimit.ClientIP{}, "192.0.2.7:443", nil, "192.0.2.7"},
		{"X-Forwarded-For ignored without trusted proxies", ratelimit.ClientIP{}, "192.0.2.7:443",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.7"},
		{"IPv6 keyed by /64", ratelimit.ClientIP{}, "[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6 is IPv4", ratelimit.ClientIP{}, "[::ffff:192.0.2.7]:443", nil, "192.0.2.7"},
		{"Unix socket as is", ratelimit.ClientIP{}, "@", nil, "@"},
		{"header ignored from an untrusted peer", ratelimit.ClientIP{TrustedProxies: proxies}, "192.0.2.7:443",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.7"},
		{"X-Forwarded-For from a trusted proxy", ratelimit.ClientIP{TrustedProxies: proxies}, "10.1.1.1:443",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"X-Forwarded-For: a spoofed leftmost entry is ignored", ratelimit.ClientIP{TrustedProxies: proxies}, "10.1.1.1:443",
			http.Header{"X-Forwarded-For": {"203.0.113.9, 198.51.100.1, 10.2.2.2"}}, "198.51.100.1"},
		{"X-Forwarded-For over several fields", ratelimit.ClientIP{TrustedProxies: proxies}, "10.1.1.1:443",
			http.Header{"X-Forwarded-For": {"203.0.113.9", "198.51.100.1"}}, "198.51.100.1"},
		// Every entry trusted: the rightmost, which the nearest proxy wrote; the leftmost may be
		// the client's own (a security review: it chose its bucket under 0.0.0.0/0).
		{"X-Forwarded-For all trusted: rightmost", ratelimit.ClientIP{TrustedProxies: proxies}, "10.1.1.1:443",
			http.Header{"X-Forwarded-For": {"10.3.3.3, 10.2.2.2"}}, "10.2.2.2"},
		{"X-Forwarded-For garbage: RemoteAddr", ratelimit.ClientIP{TrustedProxies: proxies}, "10.1.1.1:443",
			http.Header{"X-Forwarded-For": {"not-an-ip"}}, "10.1.1.1"},
		{"X-Forwarded-For missing: RemoteAddr", ratelimit.ClientIP{TrustedProxies: proxies}, "10.1.1.1:443", nil, "10.1.1.1"},
		{"named header from a trusted proxy", ratelimit.ClientIP{TrustedProxies: proxies, Header: "X-Real-IP"}, "[fd00::1]:443",
			http.Header{"X-Real-Ip": {"2001:db8::9"}, "X-Forwarded-For": {"198.51.100.1"}}, "2001:db8::/64"},
		{"named header ignored from an untrusted peer", ratelimit.ClientIP{TrustedProxies: proxies, Header: "X-Real-IP"}, "192.0.2.7:443",
			http.Header{"X-Real-Ip": {"198.51.100.1"}}, "192.0.2.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.header {
				r.Header[k] = v
			}
			if got := tc.cfg.Key(r); got != tc.want {
				t.Errorf("Key = %q, want %q", got, tc.want)
			}
		})
	}
}

// TrustedProxies 0.0.0.0/0 and ::/0 (a platform proxy of unknown address, as ClientIP's doc
// allows): the client is the address the proxy appended. A client writing a new address
// into X-Forwarded-For each time got a bucket of its own each time (50 of 50 requests
// through a burst of 1), and one naming a victim's address spent the victim's bucket.
func TestClientIP_TrustEveryProxy_ClientCannotChooseItsBucket(t *testing.T) {
	cfg := ratelimit.ClientIP{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
	l := newLimiter(t, ratelimit.PerMinute(1, 1), ratelimit.Options{ClientIP: cfg})
	h := l.Wrap(http.HandlerFunc(ok))
	const platformProxy = "10.0.0.1:5000" // the connection: the platform's proxy
	const attacker = "198.51.100.66"      // what the proxy appends
	allowed := 0
	for i := 1; i <= 50; i++ {
		xff := http.Header{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d, %s", i, attacker)}}
		if w := get(h, platformProxy, xff); w.Code == http.StatusOK {
			allowed++
		}
	}
	if allowed != 1 {
		t.Errorf("%d of 50 requests from %s through a burst of 1, want 1", allowed, attacker)
	}
	// Nor through an entry that is no address, left of a new one each time.
	allowed = 0
	for i := 1; i <= 50; i++ {
		xff := http.Header{"X-Forwarded-For": {fmt.Sprintf("x, 203.0.113.%d, %s", i, attacker)}}
		if w := get(h, platformProxy, xff); w.Code == http.StatusOK {
			allowed++
		}
	}
	if allowed != 0 {
		t.Errorf("%d of 50 requests from %s (already limited) through with a malformed entry first", allowed, attacker)
	}
	get(h, platformProxy, http.Header{"X-Forwarded-For": {"192.0.2.10, " + attacker}})
	if w := get(h, platformProxy, http.Header{"X-Forwarded-For": {"192.0.2.10"}}); w.Code != http.StatusOK {
		t.Errorf("the victim's first request: %d, want 200 (its bucket untouched by the attacker)", w.Code)
	}
}

func TestWrap_ProxyHeaderOnlyWhenConfigured(t *testing.T) {
	spoof := func(i int) http.Header { return http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i)}} }
	// Not configured: rotating X-Forwarded-For does not escape the limit.
	l := newLimiter(t, ratelimit.PerMinute(1, 1), ratelimit.Options{})
	h := l.Wrap(http.HandlerFunc(ok))
	get(h, "192.0.2.1:1", spoof(1))
	if w := get(h, "192.0.2.1:1", spoof(2)); w.Code != http.StatusTooManyRequests {
		t.Errorf("spoofed X-Forwarded-For escaped the limit: %d", w.Code)
	}
	// Configured: clients behind the proxy have their own buckets.
	l = newLimiter(t, ratelimit.PerMinute(1, 1), ratelimit.Options{ClientIP: ratelimit.ClientIP{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}}})
	h = l.Wrap(http.HandlerFunc(ok))
	get(h, "192.0.2.1:1", spoof(1))
	if w := get(h, "192.0.2.1:1", spoof(2)); w.Code != http.StatusOK {
		t.Errorf("second client behind the trusted proxy: %d, want 200", w.Code)
	}
	if w := get(h, "192.0.2.1:1", spoof(1)); w.Code != http.StatusTooManyRequests {
		t.Errorf("first client behind the trusted proxy again: %d, want 429", w.Code)
	}
}

func BenchmarkLimiter_Allow(b *testing.B) {
	l, _ := ratelimit.New(ratelimit.PerMinute(1_000_000, 1_000_000), ratelimit.Options{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "192.0.2." + strconv.Itoa(i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i&1023])
			i++
		}
	})
}
