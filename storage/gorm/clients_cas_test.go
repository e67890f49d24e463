package gormstore_test

import (
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RFC 7592 §2.2/§2.3 without a check-then-act race: the conditional update and delete
// write only while the registration access token hash is the one the caller verified.
func TestClientCompareAndSwap_RegistrationTokenHash(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "cas")
		old := cl.RegistrationAccessTokenHash

		upd := *cl
		upd.Name = "renamed"
		upd.RegistrationAccessTokenHash = []byte("rat-hash-2")
		for name, hash := range map[string][]byte{"wrong hash": []byte("other"), "empty hash": nil, "prefix": old[:3]} {
			if err := s.UpdateClientIfRegistrationToken(c, &upd, hash); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("update, %s: %v; want ErrNotFound", name, err)
			}
			if err := s.DeleteClientIfRegistrationToken(c, cl.ID, hash); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("delete, %s: %v; want ErrNotFound", name, err)
			}
		}
		if got, err := s.LoadClient(c, cl.ID); err != nil || got.Name != cl.Name || string(got.RegistrationAccessTokenHash) != string(old) {
			t.Fatalf("after refused writes: %+v %v", got, err)
		}
		must(t, s.UpdateClientIfRegistrationToken(c, &upd, old))
		if got, err := s.LoadClient(c, cl.ID); err != nil || got.Name != "renamed" || string(got.RegistrationAccessTokenHash) != "rat-hash-2" {
			t.Fatalf("after update: %+v %v", got, err)
		}
		// The old hash is spent.
		if err := s.UpdateClientIfRegistrationToken(c, &upd, old); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("update with the replaced hash: %v", err)
		}
		if err := s.UpdateClientIfRegistrationToken(c, &provider.Client{ID: "absent"}, old); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("update of an absent client: %v", err)
		}

		// The conditional delete removes everything issued to the client, and nothing
		// when its condition fails (checked above: the client is still there).
		req := newRequest(cl, "req-cas", "m")
		must(t, s.CreateAuthorizeCodeSession(c, "code-cas", req))
		must(t, s.CreateAccessTokenSession(c, "at-cas", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-cas", "at-cas", req))
		must(t, s.CreatePendingAuthorization(c, "pa-cas", &provider.PendingAuthorization{
			ClientID: cl.ID, Form: url.Values{"a": {"b"}}, ExpiresAt: time.Now().Add(time.Minute)}))
		if err := s.DeleteClientIfRegistrationToken(c, cl.ID, old); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("delete with the replaced hash: %v", err)
		}
		if _, err := s.GetAccessTokenSession(c, "at-cas", nil); err != nil {
			t.Errorf("a refused delete removed a token: %v", err)
		}
		must(t, s.DeleteClientIfRegistrationToken(c, cl.ID, []byte("rat-hash-2")))
		checks := map[string]error{}
		_, checks["client"] = s.LoadClient(c, cl.ID)
		_, checks["code"] = s.GetAuthorizeCodeSession(c, "code-cas", nil)
		_, checks["access"] = s.GetAccessTokenSession(c, "at-cas", nil)
		_, checks["refresh"] = s.GetRefreshTokenSession(c, "rt-cas", nil)
		_, checks["pending"] = s.GetPendingAuthorization(c, "pa-cas")
		for what, err := range checks {
			if !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("%s after the delete: %v", what, err)
			}
		}
		if err := s.DeleteClientIfRegistrationToken(c, cl.ID, []byte("rat-hash-2")); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}

// Concurrent writers presenting one hash: exactly one wins, whatever the mix of updates
// and deletes, while TouchClient writes the same row.
func TestClientCompareAndSwap_ConcurrentWritersOneWins(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		for round := 0; round < 10; round++ {
			cl := mustCreateClient(t, s, randomString(t, "cas-"))
			old := cl.RegistrationAccessTokenHash
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if i%3 == 2 {
						errs[i] = s.DeleteClientIfRegistrationToken(c, cl.ID, old)
						return
					}
					upd := *cl
					upd.RegistrationAccessTokenHash = []byte(randomString(t, "h-"))
					errs[i] = s.UpdateClientIfRegistrationToken(c, &upd, old)
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_ = s.TouchClient(c, cl.ID, time.Now())
			}()
			close(start)
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, fosite.ErrNotFound):
					t.Errorf("round %d writer %d: %v; want nil or ErrNotFound", round, i, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d writers succeeded with one registration access token hash; want 1", round, won)
			}
		}
	})
}
