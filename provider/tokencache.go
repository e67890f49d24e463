package provider

import (
	"sync"
	"time"
)

// Verified-token cache defaults (Config.VerifiedTokenCacheTTL, Config.VerifiedTokenCacheSize).
const (
	// DefaultVerifiedTokenCacheTTL is how long VerifyAccessToken answers from memory for
	// a token it verified against storage. It bounds how late a revocation made by
	// another replica (another process on the same database) is seen; revocations made
	// through this process's Storage take effect at once.
	DefaultVerifiedTokenCacheTTL = 2 * time.Second
	// DefaultVerifiedTokenCacheSize is how many verified tokens the cache holds at most.
	DefaultVerifiedTokenCacheSize = 8192
)

// RevocationCounter is implemented by a Storage whose verified access tokens the provider
// may cache (Config.VerifiedTokenCacheTTL). RevocationCount returns a number that grows
// whenever this Storage, in this process, revokes, rotates or deletes a token or grant, or
// updates or deletes a client, and again once such a write's transaction has committed.
// VerifyAccessToken remembers the count it read before loading a token from storage and
// serves the token from memory only while the count is unchanged, so every revocation
// through this Storage takes effect at once. Without it the cache stays off. storage/gorm
// implements it.
type RevocationCounter interface {
	RevocationCount() uint64
}

// tokenCache holds what VerifyAccessToken returned for recently verified tokens, keyed by
// the token's storage signature (never the token): every MCP request presents its access
// token, and without the cache each one costs a storage read, a decryption and a client
// load.
//
// An entry is served only while three things hold: the storage's revocation count is the
// one read before the entry was loaded (so a revocation through this process's Storage,
// including one whose transaction commits after the load, voids it at once), the entry is
// younger than the TTL (a revocation by another replica is seen after at most the TTL),
// and the token has not expired (VerifyAccessToken checks that on every call).
type tokenCache struct {
	ttl     time.Duration
	size    int
	counter RevocationCounter

	mu      sync.RWMutex
	entries map[string]tokenCacheEntry
}

type tokenCacheEntry struct {
	tok     AccessToken // never handed out: get returns a copy
	count   uint64      // the revocation count read before the token was loaded
	expires time.Time   // min(load + TTL, token expiry)
}

// newTokenCache returns a cache with the given TTL and size (zero: the defaults), or nil
// (no caching) when ttl is negative or the storage counts no revocations.
func newTokenCache(store Storage, ttl time.Duration, size int) *tokenCache {
	counter, ok := store.(RevocationCounter)
	if !ok || ttl < 0 {
		return nil
	}
	if ttl == 0 {
		ttl = DefaultVerifiedTokenCacheTTL
	}
	if size <= 0 {
		size = DefaultVerifiedTokenCacheSize
	}
	return &tokenCache{ttl: ttl, size: size, counter: counter, entries: make(map[string]tokenCacheEntry)}
}

// count returns the revocation count to pass to put for a token about to be loaded.
func (c *tokenCache) count() uint64 { return c.counter.RevocationCount() }

// get returns a copy of the token cached under sig, or nil.
func (c *tokenCache) get(sig string, now time.Time) *AccessToken {
	c.mu.RLock()
	e, ok := c.entries[sig]
	c.mu.RUnlock()
	if !ok || e.count != c.counter.RevocationCount() || !now.Before(e.expires) {
		return nil
	}
	return copyToken(&e.tok)
}

// put caches tok under sig, loaded after count returned count, until min(now + TTL, the
// token's expiry). When the cache is full it first drops what can no longer be served,
// then arbitrary entries, an eighth of the cache at a time, so that a full cache pays for
// the scan once per many insertions.
func (c *tokenCache) put(sig string, tok *AccessToken, count uint64, now time.Time) {
	expires := now.Add(c.ttl)
	if tok.ExpiresAt.Before(expires) {
		expires = tok.ExpiresAt
	}
	if !now.Before(expires) {
		return
	}
	e := tokenCacheEntry{tok: *copyToken(tok), count: count, expires: expires}
	current := c.counter.RevocationCount()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[sig]; !ok && len(c.entries) >= c.size {
		for k, old := range c.entries {
			if old.count != current || !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.size-c.size/8 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[sig] = e
}

// length returns the number of entries, served or not (tests check the cap with it).
func (c *tokenCache) length() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// copyToken returns a copy of t whose slices the caller may modify, in two allocations.
func copyToken(t *AccessToken) *AccessToken {
	cp := *t
	lists := make([]string, len(t.Scopes)+len(t.Audience))
	n := copy(lists, t.Scopes)
	copy(lists[n:], t.Audience)
	cp.Scopes, cp.Audience = lists[:n:n], lists[n:]
	return &cp
}
