package gormstore

import "context"

// RevocationCount implements provider.RevocationCounter: it grows with every write of this
// Store that can make a verified access token invalid (a token or grant revoked, a refresh
// token rotated, an access token deleted, a client updated or deleted), once when the
// write has been made and again once its transaction has committed. The provider's
// verified-token cache serves an entry only while the count is the one it read before
// loading the token. Writes by another Store on the same database (another replica) do
// not count: the cache's TTL bounds those.
func (s *Store) RevocationCount() uint64 { return s.revocations.Load() }

// tokensChanged counts a write that can invalidate verified access tokens (see
// RevocationCount): now, and again once ctx's open transaction, if any, has committed
// (a Verify that read the row before the commit must not keep what it read). Writers
// call it after their statements, once their own transaction has committed.
func (s *Store) tokensChanged(ctx context.Context) {
	s.revocations.Add(1)
	st := openTx(ctx)
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.afterCommit = append(st.afterCommit, func(context.Context) error {
		s.revocations.Add(1)
		return nil
	})
}
