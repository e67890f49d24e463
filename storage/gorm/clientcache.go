package gormstore

import (
	"context"
	"sync"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Client cache defaults (Options.ClientCacheTTL, Options.ClientCacheSize).
const (
	// DefaultClientCacheTTL is how long a client read from the database is served from
	// memory. It bounds how late another replica sees a client's update or deletion; this
	// Store's own writes take effect at once.
	DefaultClientCacheTTL = 2 * time.Second
	// DefaultClientCacheSize is how many clients the cache holds at most.
	DefaultClientCacheSize = 4096
)

// clientCache keeps recently loaded clients for a short time: every token request reads its
// client two to four times (fosite's client authentication, then once per stored code or
// token it loads), which made the client row the most read row of the database.
//
// Correctness rests on three rules. The Store's own writes (update, delete, last-use
// touch) invalidate the entry at once and again after their transaction commits, so a
// reader that refilled the entry from the not yet committed row is corrected. A fill that
// started before an invalidation of the same client is dropped (the generation check), so
// a slow read cannot put back what a write has just removed. Writes made by another
// process (another replica on the same PostgreSQL) are seen when the entry expires, after
// at most the TTL.
//
// The generation check is per client: an invalidation leaves a tombstone carrying its
// generation for a TTL, and only a fill of that client that started before it is dropped.
// (A single generation for the whole cache dropped every fill that overlapped any write:
// under concurrent logins every token's last-use touch voided the fill of the next new
// client, and at 32 concurrent logins nearly every authorization read its client from the
// database.) Once a tombstone is gone, fills that started before its generation are all
// dropped (floor): slower than a TTL, they may be stale.
type clientCache struct {
	ttl  time.Duration
	size int

	mu      sync.Mutex
	gen     uint64 // incremented by every invalidation
	floor   uint64 // fills that started before this generation are dropped
	entries map[string]clientCacheEntry
}

// clientCacheEntry is a cached client, or a tombstone (client nil) left by an invalidation.
type clientCacheEntry struct {
	client  *provider.Client // never handed out: get returns a copy; nil for a tombstone
	gen     uint64           // the generation of the client's last invalidation seen, 0 if none
	expires time.Time
}

// newClientCache returns a cache with the given TTL and size (zero: the defaults), or nil
// (no caching) when ttl is negative.
func newClientCache(ttl time.Duration, size int) *clientCache {
	if ttl < 0 {
		return nil
	}
	if ttl == 0 {
		ttl = DefaultClientCacheTTL
	}
	if size <= 0 {
		size = DefaultClientCacheSize
	}
	return &clientCache{ttl: ttl, size: size, entries: make(map[string]clientCacheEntry)}
}

// get returns a copy of the cached client id (the caller may modify it), and the
// generation to pass to put when it is absent.
func (c *clientCache) get(id string) (*provider.Client, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || e.client == nil {
		return nil, c.gen
	}
	if !time.Now().Before(e.expires) {
		c.drop(id, e)
		return nil, c.gen
	}
	return e.client.Clone(), c.gen
}

// put stores a copy of cl, loaded after get returned gen, unless an invalidation of cl
// happened since. When the cache is full it first drops expired entries, then arbitrary
// ones.
func (c *clientCache) put(cl *provider.Client, gen uint64) {
	cp := cl.Clone()
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen < c.floor {
		return
	}
	e, ok := c.entries[cp.ID]
	if ok && gen < e.gen {
		return
	}
	if !ok && len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[cp.ID] = clientCacheEntry{client: cp, gen: e.gen, expires: now.Add(c.ttl)}
}

// invalidate forgets id and makes fills of id that started before it void.
func (c *clientCache) invalidate(id string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[id] = clientCacheEntry{gen: c.gen, expires: now.Add(c.ttl)}
}

// evict makes room for one entry: expired entries go, then arbitrary ones. The caller
// holds c.mu.
func (c *clientCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			c.drop(k, e)
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < c.size {
			break
		}
		c.drop(k, e)
	}
}

// drop removes entry e of id; fills older than the invalidation it remembered are then
// dropped wholesale (floor). The caller holds c.mu.
func (c *clientCache) drop(id string, e clientCacheEntry) {
	delete(c.entries, id)
	if e.gen > c.floor {
		c.floor = e.gen
	}
}

// forgetClient invalidates the cached client id now and, when ctx carries a transaction,
// again once it has committed (a concurrent reader may refill the entry from the row as it
// was before the transaction's write); until then the transaction reads id from the
// database. Writers call it after their statement; a writer running its own transaction
// calls it again after the commit.
func (s *Store) forgetClient(ctx context.Context, id string) {
	if s.clients == nil {
		return
	}
	s.clients.invalidate(id)
	ref := txFrom(ctx)
	if ref == nil {
		return
	}
	ref.st.mu.Lock()
	defer ref.st.mu.Unlock()
	if ref.st.done {
		return
	}
	if ref.st.clientsWritten == nil {
		ref.st.clientsWritten = make(map[string]bool)
	}
	ref.st.clientsWritten[id] = true
	ref.st.afterCommit = append(ref.st.afterCommit, func(context.Context) error {
		s.clients.invalidate(id)
		return nil
	})
}

// clientCacheFor returns the cache a read of client id with ctx may use: nil when there is
// none or ctx's open transaction wrote the client.
func (s *Store) clientCacheFor(ctx context.Context, id string) *clientCache {
	if s.clients == nil {
		return nil
	}
	if ref := txFrom(ctx); ref != nil {
		ref.st.mu.Lock()
		defer ref.st.mu.Unlock()
		if !ref.st.done && ref.st.clientsWritten[id] {
			return nil
		}
	}
	return s.clients
}
