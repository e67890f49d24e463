package cimd

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// RFC 9111 §5.2.2 as the resolver applies it: max-age minus Age, the default without
// max-age, nothing with no-store/no-cache/invalid max-age, capped.
func TestCacheTTL(t *testing.T) {
	r, err := New(&Options{DefaultCacheTTL: 5 * time.Minute, MaxCacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cc, age string
		want    time.Duration
	}{
		{"", "", 5 * time.Minute},
		{"public", "", 5 * time.Minute},
		{"max-age=60", "", time.Minute},
		{"public, max-age=120", "", 2 * time.Minute},
		{`max-age="30"`, "", 30 * time.Second},
		{"MAX-AGE=60", "", time.Minute},
		{"max-age=60", "20", 40 * time.Second},
		{"max-age=60", "90", 0},
		{"max-age=60", "junk", time.Minute},
		{"max-age=999999999", "", time.Hour},
		{"max-age=99999999999999999999", "", 0}, // overflow: invalid
		{"max-age=0", "", 0},
		{"max-age=-1", "", 0},
		{"max-age=", "", 0},
		{"no-store", "", 0},
		{"no-cache", "", 0},
		{"max-age=60, no-cache", "", 0},
		{"private, max-age=60", "", time.Minute},
		{"s-maxage=600", "", 5 * time.Minute},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.cc != "" {
			h.Set("Cache-Control", c.cc)
		}
		if c.age != "" {
			h.Set("Age", c.age)
		}
		if got := r.cacheTTL(h); got != c.want {
			t.Errorf("Cache-Control %q, Age %q: %v, want %v", c.cc, c.age, got, c.want)
		}
	}
}

// The cache never holds more than MaxCacheEntries documents: expired entries go first,
// then the ones expiring soonest.
func TestCacheBounded(t *testing.T) {
	r, err := New(&Options{MaxCacheEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	id := func(i int) string { return "https://c.example.com/" + strconv.Itoa(i) }
	c := &provider.Client{}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.store(id(0), c, now.Add(-time.Second)) // already expired
	r.store(id(1), c, now.Add(3*time.Minute))
	r.store(id(2), c, now.Add(time.Minute))
	r.store(id(3), c, now.Add(2*time.Minute)) // full: the expired one goes
	if _, ok := r.cache[id(0)]; ok || len(r.cache) != 3 {
		t.Fatalf("cache %v: the expired entry should have been evicted", keys(r.cache))
	}
	r.store(id(4), c, now.Add(4*time.Minute)) // full: the soonest-expiring one (2) goes
	if _, ok := r.cache[id(2)]; ok || len(r.cache) != 3 {
		t.Fatalf("cache %v: entry 2 should have been evicted", keys(r.cache))
	}
	r.store(id(4), c, now.Add(5*time.Minute)) // replacing an entry evicts nothing
	if len(r.cache) != 3 {
		t.Fatalf("cache %v", keys(r.cache))
	}
	for i := 5; i < 100; i++ {
		r.store(id(i), c, now.Add(time.Duration(i)*time.Minute))
	}
	if len(r.cache) != 3 {
		t.Fatalf("cache grew to %d entries", len(r.cache))
	}
}

func keys(m map[string]*entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Fetches share a per-host limit by registrable domain: a domain's subdomains count as
// one host (anyone with a wildcard DNS record has unlimited names), a public suffix's
// registrants (github.io) do not, and an IP address is its own host whatever the port.
func TestFetchHost(t *testing.T) {
	for _, c := range []struct{ clientID, want string }{
		{"https://a.example.com/client.json", "example.com"},
		{"https://b.c.example.com/client.json", "example.com"},
		{"https://example.com/client.json", "example.com"},
		{"https://alice.github.io/client.json", "alice.github.io"},
		{"https://bob.github.io/client.json", "bob.github.io"},
		{"https://127.0.0.1:8443/client.json", "127.0.0.1"},
		{"https://127.0.0.1:9443/client.json", "127.0.0.1"},
		{"https://[2001:db8::1]:8443/client.json", "2001:db8::1"},
	} {
		if got := fetchHost(c.clientID); got != c.want {
			t.Errorf("fetchHost(%q) = %q, want %q", c.clientID, got, c.want)
		}
	}
}
