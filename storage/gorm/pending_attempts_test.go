package gormstore_test

import (
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestPendingAuthorization_BrowserBindingStored (issue 14 finding 7): the browser binding
// hash is stored with the pending request and returned by Get and Consume.
func TestPendingAuthorization_BrowserBindingStored(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "client")
		must(t, s.CreatePendingAuthorization(c, "p", &provider.PendingAuthorization{
			ClientID: "client", Form: url.Values{}, ExpiresAt: time.Now().Add(time.Minute), BrowserBinding: "binding-hash"}))
		got, err := s.GetPendingAuthorization(c, "p")
		if err != nil || got.BrowserBinding != "binding-hash" {
			t.Fatalf("Get = %+v, %v; want the binding", got, err)
		}
		if got, err = s.ConsumePendingAuthorization(c, "p"); err != nil || got.BrowserBinding != "binding-hash" {
			t.Fatalf("Consume = %+v, %v; want the binding", got, err)
		}
	})
}

// TestPendingAuthorization_LoginAttemptsBounded (issue 14 finding 12): CountLoginAttempt
// counts up to the limit and then refuses; consumed, expired and unknown requests count
// nothing.
func TestPendingAuthorization_LoginAttemptsBounded(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "client")
		must(t, s.CreatePendingAuthorization(c, "p", &provider.PendingAuthorization{
			ClientID: "client", Form: url.Values{}, ExpiresAt: time.Now().Add(time.Minute), LoginAttempts: 99}))
		if got, err := s.GetPendingAuthorization(c, "p"); err != nil || got.LoginAttempts != 0 {
			t.Fatalf("new request: %+v, %v; want 0 attempts (Create ignores LoginAttempts)", got, err)
		}
		for want := 1; want <= 3; want++ {
			if n, err := s.CountLoginAttempt(c, "p", 3); err != nil || n != want {
				t.Fatalf("attempt %d: %d, %v", want, n, err)
			}
		}
		if n, err := s.CountLoginAttempt(c, "p", 3); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("attempt past the limit: %d, %v; want ErrNotFound", n, err)
		}
		if got, err := s.GetPendingAuthorization(c, "p"); err != nil || got.LoginAttempts != 3 {
			t.Fatalf("after the limit: %+v, %v; want 3 attempts, request still readable", got, err)
		}
		if _, err := s.CountLoginAttempt(c, "p", 0); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("limit 0: %v", err)
		}
		must(t, s.CreatePendingAuthorization(c, "consumed", &provider.PendingAuthorization{
			ClientID: "client", Form: url.Values{}, ExpiresAt: time.Now().Add(time.Minute)}))
		if _, err := s.ConsumePendingAuthorization(c, "consumed"); err != nil {
			t.Fatal(err)
		}
		must(t, s.CreatePendingAuthorization(c, "expired", &provider.PendingAuthorization{
			ClientID: "client", Form: url.Values{}, ExpiresAt: time.Now().Add(-time.Second)}))
		for _, id := range []string{"consumed", "expired", "unknown"} {
			if _, err := s.CountLoginAttempt(c, id, 5); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("%s: %v; want ErrNotFound", id, err)
			}
		}
	})
}

// TestConcurrency_LoginAttemptsNeverExceedLimit (issue 14 finding 12): 20 concurrent
// attempts on one request with a limit of 5 count exactly 5, numbered 1 to 5.
func TestConcurrency_LoginAttemptsNeverExceedLimit(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "client")
		must(t, s.CreatePendingAuthorization(c, "p", &provider.PendingAuthorization{
			ClientID: "client", Form: url.Values{}, ExpiresAt: time.Now().Add(time.Minute)}))
		var (
			mu     sync.Mutex
			counts []int
		)
		errs := race(func(int) error {
			n, err := s.CountLoginAttempt(c, "p", 5)
			if err == nil {
				mu.Lock()
				counts = append(counts, n)
				mu.Unlock()
			}
			return err
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("attempt %d: %v; want a count or ErrNotFound", i, err)
			}
		}
		slices.Sort(counts)
		if !slices.Equal(counts, []int{1, 2, 3, 4, 5}) {
			t.Fatalf("counted attempts %v; want exactly 1..5", counts)
		}
		if got, err := s.GetPendingAuthorization(c, "p"); err != nil || got.LoginAttempts != 5 {
			t.Fatalf("stored: %+v, %v; want 5 attempts", got, err)
		}
	})
}
