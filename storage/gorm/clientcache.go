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
// started before an invalidation is dropped (the generation check), so a slow read cannot
// put back what a write has just removed. Writes made by another process (another replica
// on the same PostgreSQL) are seen when the entry expires, after at most the TTL.
type clientCache struct {
	ttl  time.Duration
	size int

	mu      sync.Mutex
	gen     uint64 // incremented by every invalidation
	entries map[string]clientCacheEntry
}

type clientCacheEntry struct {
	client  *provider.Client // never handed out: get returns a copy
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
	if !ok {
		return nil, c.gen
	}
	if !time.Now().Before(e.expires) {
		delete(c.entries, id)
		return nil, c.gen
	}
	return e.client.Clone(), c.gen
}

// put stores a copy of cl, loaded after get returned gen, unless an invalidation happened
// since. When the cache is full it first drops expired entries, then arbitrary ones.
func (c *clientCache) put(cl *provider.Client, gen uint64) {
	cp := cl.Clone()
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[cp.ID]; !ok && len(c.entries) >= c.size {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.size {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[cp.ID] = clientCacheEntry{client: cp, expires: now.Add(c.ttl)}
}

// invalidate forgets id and makes fills that started before it void.
func (c *clientCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
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
