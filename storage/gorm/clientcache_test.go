package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// The documented bound for other replicas (README, Options.ClientCacheTTL) is 5 s.
func TestClientCache_DefaultTTLWithinReplicaBound(t *testing.T) {
	if gormstore.DefaultClientCacheTTL <= 0 || gormstore.DefaultClientCacheTTL > 5*time.Second {
		t.Fatalf("DefaultClientCacheTTL = %v; the documented bound for other replicas is 5 s", gormstore.DefaultClientCacheTTL)
	}
}

// The cache serves reads: a row removed behind the Store's back is still returned until
// the TTL passes, then the read goes to the database again.
func TestClientCache_ServesReadsUntilTTL(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		c := ctx(t)
		opts := gormtest.DefaultOptions(t)
		opts.ClientCacheTTL = 300 * time.Millisecond
		s := db.Open(t, opts)
		mustCreateClient(t, s, "cached")
		if _, err := s.LoadClient(c, "cached"); err != nil {
			t.Fatal(err)
		}
		must(t, s.DB().WithContext(c).Exec("DELETE FROM oauth_clients WHERE id = ?", "cached").Error)
		if _, err := s.LoadClient(c, "cached"); err != nil {
			t.Fatalf("read within the TTL: %v; want the cached client", err)
		}
		time.Sleep(350 * time.Millisecond)
		if _, err := s.LoadClient(c, "cached"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("read after the TTL: %v; want ErrNotFound", err)
		}
	})
}

// A Store's own client writes take effect at once on its next read (the same process,
// well within the 1 s bound): a secret rotation (RFC 7592 update), a deletion, both
// compare-and-swap forms, and a last-use touch.
func TestClientCache_OwnWritesTakeEffectAtOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "own")
		load := func() *provider.Client {
			t.Helper()
			got, err := s.LoadClient(c, "own")
			if err != nil {
				t.Fatalf("LoadClient: %v", err)
			}
			return got
		}
		load()

		upd := load()
		upd.SecretHash = []byte("sha256$rotated")
		must(t, s.UpdateClient(c, upd))
		if got := load(); string(got.SecretHash) != "sha256$rotated" {
			t.Fatalf("after UpdateClient: secret hash %q", got.SecretHash)
		}

		upd = load()
		upd.Name = "renamed"
		upd.RegistrationAccessTokenHash = []byte("rat-2")
		must(t, s.UpdateClientIfRegistrationToken(c, upd, cl.RegistrationAccessTokenHash))
		if got := load(); got.Name != "renamed" || string(got.RegistrationAccessTokenHash) != "rat-2" {
			t.Fatalf("after UpdateClientIfRegistrationToken: %q %q", got.Name, got.RegistrationAccessTokenHash)
		}

		at := time.Now().UTC().Truncate(time.Microsecond)
		must(t, s.TouchClient(c, "own", at))
		if got := load(); !got.LastUsedAt.Equal(at) {
			t.Fatalf("after TouchClient: LastUsedAt %v; want %v", got.LastUsedAt, at)
		}

		must(t, s.DeleteClientIfRegistrationToken(c, "own", []byte("rat-2")))
		if _, err := s.LoadClient(c, "own"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("after DeleteClientIfRegistrationToken: %v", err)
		}

		mustCreateClient(t, s, "own2")
		load2, err := s.GetClient(c, "own2")
		if err != nil || load2.GetID() != "own2" {
			t.Fatalf("GetClient: %v %v", load2, err)
		}
		must(t, s.DeleteClient(c, "own2"))
		if _, err := s.GetClient(c, "own2"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("after DeleteClient: %v", err)
		}
	})
}

// Two Stores on one database are two replicas: a client update or deletion made through
// one is seen by the other, which has the client cached, within its TTL (the default, 2 s;
// documented as at most 5 s).
func TestClientCache_OtherReplicaSeesWritesWithinTTL(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		c := ctx(t)
		opts := gormtest.DefaultOptions(t)
		a, b := db.Open(t, opts), db.Open(t, opts)
		mustCreateClient(t, a, "replicated")
		if _, err := b.LoadClient(c, "replicated"); err != nil {
			t.Fatal(err)
		}

		upd, err := a.LoadClient(c, "replicated")
		must(t, err)
		upd.SecretHash = []byte("sha256$rotated")
		start := time.Now()
		must(t, a.UpdateClient(c, upd))
		waitFor(t, gormstore.DefaultClientCacheTTL, "the other replica sees the rotated secret", func() bool {
			got, err := b.LoadClient(c, "replicated")
			return err == nil && string(got.SecretHash) == "sha256$rotated"
		})
		t.Logf("update seen by the other replica after %v", time.Since(start).Round(time.Millisecond))

		start = time.Now()
		must(t, a.DeleteClient(c, "replicated"))
		waitFor(t, gormstore.DefaultClientCacheTTL, "the other replica sees the deletion", func() bool {
			_, err := b.LoadClient(c, "replicated")
			return errors.Is(err, fosite.ErrNotFound)
		})
		t.Logf("deletion seen by the other replica after %v", time.Since(start).Round(time.Millisecond))
	})
}

// A replica that still has a client cached which another replica deleted fails to store a
// token for it (the foreign key), and forgets the client at once: only that one request
// gets that far, the next lookup finds no client.
func TestClientCache_ForeignKeyViolationForgetsDeletedClient(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		c := ctx(t)
		opts := gormtest.DefaultOptions(t)
		opts.ClientCacheTTL = time.Minute
		a, b := db.Open(t, opts), db.Open(t, opts)
		mustCreateClient(t, a, "gone")
		cl, err := b.LoadClient(c, "gone")
		must(t, err)
		must(t, a.DeleteClient(c, "gone"))
		if _, err := b.LoadClient(c, "gone"); err != nil {
			t.Fatalf("within the TTL the other replica still serves its cached client: %v", err)
		}
		if err := b.CreateAccessTokenSession(c, "at-gone", newRequest(cl, "req-gone", "m")); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("storing a token for a deleted client: %v; want ErrNotFound (the grant's client is gone), not an internal error", err)
		}
		if _, err := b.LoadClient(c, "gone"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("after the failed insert: %v; want ErrNotFound", err)
		}
	})
}

// waitFor polls cond until it holds, failing t when it does not within bound (plus 250 ms
// of scheduling slack on a loaded machine).
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound + 250*time.Millisecond)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Inside a transaction a client the transaction wrote is read from the transaction, and
// the uncommitted version never reaches the cache: after a rollback every reader sees the
// stored client, after a commit the new one.
func TestClientCache_TransactionWritesStayInTransaction(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "txc")
		if _, err := s.LoadClient(c, "txc"); err != nil {
			t.Fatal(err)
		}
		for _, commit := range []bool{false, true} {
			name := fmt.Sprintf("name-commit-%v", commit)
			tx, err := s.BeginTX(c)
			must(t, err)
			upd, err := s.LoadClient(tx, "txc")
			must(t, err)
			upd.Name = name
			must(t, s.UpdateClient(tx, upd))
			got, err := s.LoadClient(tx, "txc")
			if err != nil || got.Name != name {
				_ = s.Rollback(tx)
				t.Fatalf("read inside the transaction: %v %v; want its own write", got, err)
			}
			if _, err := s.LoadClient(tx, "txc"); err != nil { // a second read must not cache it either
				t.Fatal(err)
			}
			if commit {
				must(t, s.Commit(tx))
			} else {
				must(t, s.Rollback(tx))
			}
			got, err = s.LoadClient(c, "txc")
			must(t, err)
			if commit && got.Name != name {
				t.Fatalf("after commit: name %q; want %q", got.Name, name)
			}
			if !commit && got.Name == name {
				t.Fatalf("after rollback: the rolled-back name %q is served", got.Name)
			}
		}
	})
}

// The cache hands out copies: a caller modifying its client changes nothing for others.
func TestClientCache_ReturnsCopies(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "copy")
		for i := 0; i < 2; i++ { // the first read fills the cache, the second comes from it
			got, err := s.LoadClient(c, "copy")
			must(t, err)
			if got.Name != "Test App" || got.RedirectURIs[0] != "https://app.example/cb" || string(got.SecretHash[:7]) != "sha256$" {
				t.Fatalf("read %d: modified client served: %+v", i, got)
			}
			got.Name = "changed"
			got.RedirectURIs[0] = "https://evil.example/cb"
			got.SecretHash[0] = 'x'
		}
	})
}

// Concurrent readers and writers on both databases: once the last update has returned,
// every read sees it (no stale fill survives an invalidation), and the race detector sees
// no race.
func TestClientCache_ConcurrentReadsAndUpdates(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "busy")
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for i := 0; i < 4; i++ {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := s.LoadClient(context.Background(), "busy"); err != nil && !isRetryable(err) {
						t.Errorf("LoadClient: %v", err)
						return
					}
				}
			}()
		}
		for i := 0; i < 20; i++ {
			upd, err := s.LoadClient(c, "busy")
			must(t, err)
			upd.Name = fmt.Sprintf("v%d", i)
			must(t, s.UpdateClient(c, upd))
			got, err := s.LoadClient(c, "busy")
			must(t, err)
			if got.Name != upd.Name {
				t.Fatalf("after update %d: read %q", i, got.Name)
			}
		}
		close(stop)
		readers.Wait()
	})
}

func isRetryable(err error) bool { return errors.Is(err, fosite.ErrSerializationFailure) }

// ClientCacheTTL < 0 turns the cache off: every read goes to the database.
func TestClientCache_Off(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		c := ctx(t)
		opts := gormtest.DefaultOptions(t)
		opts.ClientCacheTTL = -1
		s := db.Open(t, opts)
		mustCreateClient(t, s, "uncached")
		if _, err := s.LoadClient(c, "uncached"); err != nil {
			t.Fatal(err)
		}
		must(t, s.DB().WithContext(c).Exec("DELETE FROM oauth_clients WHERE id = ?", "uncached").Error)
		if _, err := s.LoadClient(c, "uncached"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("read with the cache off: %v; want ErrNotFound", err)
		}
	})
}

// A client created outside a transaction is cached as stored, so that its first
// authorization request does not read it back (registration, then authorize): it is
// served with no row behind it, equal to what the database returns after the TTL.
// Created inside a transaction that rolls back, it is never served.
func TestClientCache_CreateFillsTheCache(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		c := ctx(t)
		opts := gormtest.DefaultOptions(t)
		opts.ClientCacheTTL = time.Minute
		s := db.Open(t, opts)
		uncached := db.Open(t, func() gormstore.Options { o := gormtest.DefaultOptions(t); o.ClientCacheTTL = -1; return o }())
		created := mustCreateClient(t, s, "new")
		fromDB, err := uncached.LoadClient(c, "new")
		if err != nil {
			t.Fatal(err)
		}
		must(t, s.DB().WithContext(c).Exec("DELETE FROM oauth_clients WHERE id = ?", "new").Error)
		got, err := s.LoadClient(c, "new")
		if err != nil {
			t.Fatalf("LoadClient right after CreateClient: %v; want the cached client", err)
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", fromDB) {
			t.Errorf("cached client\n%+v\nwant it as read from the database\n%+v", got, fromDB)
		}
		if got.Name != created.Name || got.JWKS != nil || !got.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("cached client %+v", got)
		}

		tx, err := s.BeginTX(c)
		must(t, err)
		must(t, s.CreateClient(tx, newClient(t, "rolled-back")))
		must(t, s.Rollback(tx))
		if _, err := s.LoadClient(c, "rolled-back"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("client created in a rolled back transaction: %v; want ErrNotFound", err)
		}
	})
}
