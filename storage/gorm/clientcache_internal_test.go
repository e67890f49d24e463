package gormstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// The cache is bounded (ClientCacheSize), drops fills that an invalidation of the same
// client overtook, and does not serve expired entries.
func TestClientCache_BoundedAndGenerationChecked(t *testing.T) {
	c := newClientCache(time.Minute, 3)
	for i := 0; i < 10; i++ {
		_, gen := c.get(fmt.Sprint(i))
		c.put(&provider.Client{ID: fmt.Sprint(i)}, gen)
		if n := len(c.entries); n > 3 {
			t.Fatalf("after %d puts: %d entries; bound is 3", i+1, n)
		}
	}
	if got, _ := c.get("9"); got == nil {
		t.Fatal("the newest entry was evicted")
	}

	_, gen := c.get("x")
	c.invalidate("x") // a write to "x" happened while it was being read
	c.put(&provider.Client{ID: "x", Name: "stale"}, gen)
	if got, _ := c.get("x"); got != nil {
		t.Fatalf("a fill that started before an invalidation was kept: %+v", got)
	}

	short := newClientCache(time.Nanosecond, 0)
	_, gen = short.get("y")
	short.put(&provider.Client{ID: "y"}, gen)
	time.Sleep(time.Millisecond)
	if got, _ := short.get("y"); got != nil {
		t.Fatal("an expired entry was served")
	}
	if short.size != DefaultClientCacheSize {
		t.Fatalf("size %d; want the default %d", short.size, DefaultClientCacheSize)
	}
	if newClientCache(-1, 0) != nil {
		t.Fatal("a negative TTL must turn the cache off")
	}
}

// A write to one client does not void the fill of another that overlapped it: under
// concurrent logins every token's last-use touch (an invalidation) overlapped the next new
// client's fill by CreateClient, and with one generation for the whole cache nearly every
// authorization at 32 concurrent logins read its client from the database again.
func TestClientCache_InvalidationVoidsOnlyItsClientsFills(t *testing.T) {
	c := newClientCache(time.Minute, 0)
	_, gen := c.get("new")
	c.invalidate("other") // another client's last-use touch, while "new" is being stored
	c.put(&provider.Client{ID: "new", Name: "fresh"}, gen)
	if got, _ := c.get("new"); got == nil || got.Name != "fresh" {
		t.Fatalf("fill of %q after an invalidation of another client: %+v; want it cached", "new", got)
	}

	_, gen = c.get("x")
	c.invalidate("x")
	_, after := c.get("x") // a read that started after the write
	c.put(&provider.Client{ID: "x", Name: "stale"}, gen)
	if got, _ := c.get("x"); got != nil {
		t.Fatalf("a fill of %q that started before its invalidation was kept: %+v", "x", got)
	}
	c.put(&provider.Client{ID: "x", Name: "current"}, after)
	if got, _ := c.get("x"); got == nil || got.Name != "current" {
		t.Fatalf("a fill of %q that started after its invalidation: %+v; want it cached", "x", got)
	}
	c.put(&provider.Client{ID: "x", Name: "stale"}, gen) // the slow fill arrives late
	if got, _ := c.get("x"); got == nil || got.Name != "current" {
		t.Fatalf("a late fill of %q from before its invalidation replaced the current one: %+v", "x", got)
	}
}

// Tombstones are bounded like entries: when the invalidation of a client is forgotten
// (evicted from a full cache, or expired), every fill that started before it is dropped,
// since it might be a fill of that client.
func TestClientCache_ForgottenInvalidationDropsOlderFills(t *testing.T) {
	c := newClientCache(time.Minute, 2)
	_, gen := c.get("slow")
	c.invalidate("slow")
	c.invalidate("a")
	c.invalidate("b") // the cache holds 2: one of the tombstones before it is evicted
	if n := len(c.entries); n > 2 {
		t.Fatalf("%d entries; bound is 2", n)
	}
	c.put(&provider.Client{ID: "slow", Name: "stale"}, gen)
	if got, _ := c.get("slow"); got != nil {
		t.Fatalf("a fill from before an evicted invalidation was kept: %+v", got)
	}
	_, now := c.get("slow")
	c.put(&provider.Client{ID: "slow", Name: "current"}, now)
	if got, _ := c.get("slow"); got == nil || got.Name != "current" {
		t.Fatalf("a fill that started after every invalidation: %+v; want it cached", got)
	}

	short := newClientCache(time.Nanosecond, 0)
	_, gen = short.get("y")
	short.invalidate("y")
	time.Sleep(time.Millisecond)
	short.invalidate("z") // the cache is not full: expired entries go lazily
	short.evict(time.Now())
	short.put(&provider.Client{ID: "y", Name: "stale"}, gen)
	if got := short.entries["y"]; got.client != nil {
		t.Fatalf("a fill from before an expired invalidation was kept: %+v", got.client)
	}
}
