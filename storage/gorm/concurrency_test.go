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

const racers = 20

// race runs fn in racers goroutines released at once and returns their errors.
func race(fn func(i int) error) []error {
	return raceTwoPhase(func(int) error { return nil }, fn)
}

// raceTwoPhase runs racers goroutines that each run check, wait until every goroutine has
// finished check, then run act. It reproduces the worst case fosite allows: every request
// passes the validity check outside the transaction before any of them writes. A goroutine
// whose check fails returns that error and skips act.
func raceTwoPhase(check, act func(i int) error) []error {
	errs := make([]error, racers)
	start := make(chan struct{})
	var checked, done sync.WaitGroup
	checked.Add(racers)
	for i := range racers {
		done.Add(1)
		go func() {
			defer done.Done()
			<-start
			err := check(i)
			checked.Done()
			checked.Wait()
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = act(i)
		}()
	}
	close(start)
	done.Wait()
	return errs
}

// inTX runs fn in a transaction the way fosite's handlers do: BeginTX, work, Commit, and
// Rollback on any error.
func inTX(s *gormstore.Store, c context.Context, fn func(tx context.Context) error) (err error) {
	tx, err := s.BeginTX(c)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = s.Rollback(tx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return s.Commit(tx)
}

func countRows(t *testing.T, s *gormstore.Store, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	must(t, s.DB().Table(table).Where(where, args...).Count(&n).Error)
	return n
}

// TestConcurrency_AuthorizationCodeRedeemedExactlyOnce pins RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3
// under real concurrency: 20 redemptions of one code, in fosite's order (get outside the
// transaction, then invalidate + issue inside), commit exactly one token.
func TestConcurrency_AuthorizationCodeRedeemedExactlyOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		must(t, s.CreateAuthorizeCodeSession(c, "code", req))

		ars := make([]fosite.Requester, racers)
		errs := raceTwoPhase(func(i int) (err error) {
			ars[i], err = s.GetAuthorizeCodeSession(c, "code", &fosite.DefaultSession{})
			return err
		}, func(i int) error {
			return inTX(s, c, func(tx context.Context) error {
				if err := s.InvalidateAuthorizeCodeSession(tx, "code"); err != nil {
					return err
				}
				if err := s.CreateAccessTokenSession(tx, fmt.Sprintf("at-%d", i), ars[i]); err != nil {
					return err
				}
				return s.CreateRefreshTokenSession(tx, fmt.Sprintf("rt-%d", i), fmt.Sprintf("at-%d", i), ars[i])
			})
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
			default:
				t.Errorf("redemption %d: %v; want success or ErrInvalidatedAuthorizeCode from the conditional write", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d redemptions succeeded; want exactly 1", wins)
		}
		if n := countRows(t, s, "oauth_access_tokens", "request_id = ?", "grant"); n != 1 {
			t.Errorf("%d access tokens stored; want 1", n)
		}
		if n := countRows(t, s, "oauth_refresh_tokens", "request_id = ?", "grant"); n != 1 {
			t.Errorf("%d refresh tokens stored; want 1", n)
		}
		if _, err := s.GetAuthorizeCodeSession(c, "code", nil); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Errorf("code after redemption: %v; want ErrInvalidatedAuthorizeCode", err)
		}
	})
}

// TestConcurrency_RefreshTokenRotatedExactlyOnce pins strict rotation (OAuth 2.1 §4.3.1) under
// real concurrency, then reuse detection and family revocation (RFC 6819 §5.2.2.3).
func TestConcurrency_RefreshTokenRotatedExactlyOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		must(t, s.CreateAccessTokenSession(c, "at-0", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-0", "at-0", req))

		// fosite: GetRefreshTokenSession outside, RotateRefreshToken + new tokens inside.
		origs := make([]fosite.Requester, racers)
		errs := raceTwoPhase(func(i int) (err error) {
			origs[i], err = s.GetRefreshTokenSession(c, "rt-0", &fosite.DefaultSession{})
			return err
		}, func(i int) error {
			orig := origs[i]
			return inTX(s, c, func(tx context.Context) error {
				if err := s.RotateRefreshToken(tx, orig.GetID(), "rt-0"); err != nil {
					return err
				}
				if err := s.CreateAccessTokenSession(tx, fmt.Sprintf("at-%d", i+1), orig); err != nil {
					return err
				}
				return s.CreateRefreshTokenSession(tx, fmt.Sprintf("rt-%d", i+1), fmt.Sprintf("at-%d", i+1), orig)
			})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("rotations %d and %d both succeeded", winner, i)
				}
				winner = i
			case errors.Is(err, fosite.ErrSerializationFailure):
			default:
				t.Errorf("rotation %d: %v; want success or ErrSerializationFailure from the conditional write", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no rotation succeeded")
		}
		newRT, newAT := fmt.Sprintf("rt-%d", winner+1), fmt.Sprintf("at-%d", winner+1)
		if n := countRows(t, s, "oauth_refresh_tokens", "request_id = ? AND active = ?", "grant", true); n != 1 {
			t.Errorf("%d active refresh tokens in the family; want 1", n)
		}
		if n := countRows(t, s, "oauth_access_tokens", "request_id = ?", "grant"); n != 1 {
			t.Errorf("%d access tokens in the family; want 1 (the rotated grant's old one removed)", n)
		}

		// The old token is now inactive: requester + ErrInactiveToken (drives reuse detection).
		got, err := s.GetRefreshTokenSession(c, "rt-0", &fosite.DefaultSession{})
		if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetID() != "grant" {
			t.Fatalf("old token: %v, %v; want requester + ErrInactiveToken", got, err)
		}
		if _, err := s.GetRefreshTokenSession(c, newRT, nil); err != nil {
			t.Fatalf("new token: %v", err)
		}

		// Reuse detected: fosite deletes the presented token and revokes the family.
		must(t, inTX(s, c, func(tx context.Context) error {
			if err := s.DeleteRefreshTokenSession(tx, "rt-0"); err != nil {
				return err
			}
			if err := s.RevokeRefreshToken(tx, got.GetID()); err != nil {
				return err
			}
			return s.RevokeAccessToken(tx, got.GetID())
		}))
		if _, err := s.GetRefreshTokenSession(c, newRT, nil); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("winner's refresh token after family revocation: %v; want ErrInactiveToken", err)
		}
		if _, err := s.GetAccessTokenSession(c, newAT, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("winner's access token after family revocation: %v; want ErrNotFound", err)
		}
		if n := countRows(t, s, "oauth_refresh_tokens", "request_id = ? AND active = ?", "grant", true); n != 0 {
			t.Errorf("%d active refresh tokens after revocation; want 0", n)
		}
	})
}

// TestConcurrency_PendingAuthorizationConsumedExactlyOnce pins the consent handoff's single use.
func TestConcurrency_PendingAuthorizationConsumedExactlyOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "client")
		must(t, s.CreatePendingAuthorization(c, "pending", &provider.PendingAuthorization{
			ClientID: "client", ExpiresAt: time.Now().Add(time.Minute)}))

		var mu sync.Mutex
		got := 0
		errs := race(func(int) error {
			p, err := s.ConsumePendingAuthorization(c, "pending")
			if err == nil && p != nil && p.ClientID == "client" {
				mu.Lock()
				got++
				mu.Unlock()
			}
			return err
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("consume %d: %v; want success or ErrNotFound", i, err)
			}
		}
		if got != 1 {
			t.Fatalf("%d consumers got the pending authorization; want exactly 1", got)
		}
	})
}

// TestConcurrency_PendingAuthorizationConsumedExactlyOnceInTransactions repeats the consume race
// with every consumer inside its own transaction (as a consent handler issuing a code would).
func TestConcurrency_PendingAuthorizationConsumedExactlyOnceInTransactions(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "client")
		must(t, s.CreatePendingAuthorization(c, "pending", &provider.PendingAuthorization{
			ClientID: "client", ExpiresAt: time.Now().Add(time.Minute)}))
		errs := race(func(int) error {
			return inTX(s, c, func(tx context.Context) error {
				_, err := s.ConsumePendingAuthorization(tx, "pending")
				return err
			})
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, fosite.ErrNotFound):
			default:
				t.Errorf("consume %d: %v", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d transactional consumers won; want 1", wins)
		}
	})
}

// TestConcurrency_CreateClientSameIDOnce pins ClientStore.CreateClient under concurrency (dynamic
// registration with a caller-chosen ID, or two operators): one wins, the others get
// provider.ErrClientExists.
func TestConcurrency_CreateClientSameIDOnce(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		errs := race(func(int) error {
			return inTX(s, c, func(tx context.Context) error {
				return s.CreateClient(tx, newClient(t, "same-id"))
			})
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, provider.ErrClientExists):
			default:
				t.Errorf("create %d: %v; want success or ErrClientExists", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d creations succeeded; want 1", wins)
		}
	})
}
