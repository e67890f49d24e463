package gormstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// The cache is bounded (ClientCacheSize), drops fills that an invalidation overtook, and
// does not serve expired entries.
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
	c.invalidate("other") // a write happened while "x" was being read
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
