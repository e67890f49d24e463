package gormstore_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Concurrent approvals of one grant (one user approving the same client for the same
// resources in several tabs, or on several replicas): every one is recorded, the grant's
// scopes are their union, and revoking the grant reaches every request. On PostgreSQL
// all but one approval lose the race to insert the grant row and update it instead.
func TestRecordGrant_ConcurrentApprovalsOfOneGrant(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		const n = 8
		at := time.Now().UTC().Truncate(time.Second)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.RecordGrant(c, provider.GrantRecord{
					RequestID: fmt.Sprintf("req-%d", i), Subject: "alice", ClientID: client.ID,
					Resources: []string{"https://mcp.example/"}, Scopes: []string{"read", fmt.Sprintf("s%d", i)},
					At: at, ExpiresAt: at.Add(time.Duration(i+1) * time.Minute),
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("RecordGrant %d: %v", i, err)
			}
		}
		g, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"read"}
		for i := range n {
			want = append(want, fmt.Sprintf("s%d", i))
		}
		got := slices.Sorted(slices.Values(g.Scopes))
		if !slices.Equal(got, want) {
			t.Errorf("scopes %v; want %v", got, want)
		}
		if want := at.Add(n * time.Minute); !g.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt %v; want the latest approval's %v", g.ExpiresAt, want)
		}
		if !g.FirstGrantedAt.Equal(at) || !g.LastUsedAt.Equal(at) {
			t.Errorf("FirstGrantedAt %v, LastUsedAt %v; want %v", g.FirstGrantedAt, g.LastUsedAt, at)
		}
		revoked, err := s.RevokeGrants(c, provider.GrantFilter{Subject: "alice"})
		if err != nil || revoked != 1 {
			t.Fatalf("RevokeGrants = %d, %v; want 1", revoked, err)
		}
		if _, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"}); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("GetGrant after revocation: %v; want not found (every request of the grant revoked)", err)
		}
	})
}

// The provider records a grant in the transaction that stores its code: a rolled back
// transaction leaves no grant, a committed one leaves it with its request.
func TestRecordGrant_InCallersTransaction(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		rec := provider.GrantRecord{RequestID: "req-1", Subject: "bob", ClientID: client.ID, Scopes: []string{"read"},
			At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
		tx, err := s.BeginTX(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RecordGrant(tx, rec); err != nil {
			t.Fatal(err)
		}
		if err := s.Rollback(tx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetGrant(c, "bob", client.ID, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("GetGrant after rollback: %v; want not found", err)
		}
		if tx, err = s.BeginTX(c); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordGrant(tx, rec); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(tx); err != nil {
			t.Fatal(err)
		}
		g, err := s.GetGrant(c, "bob", client.ID, nil)
		if err != nil || !slices.Equal(g.Scopes, []string{"read"}) {
			t.Fatalf("GetGrant after commit = %+v, %v; want the grant with scope read", g, err)
		}
	})
}
