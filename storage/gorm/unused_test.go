package gormstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

var _ registration.PruneStore = (*gormstore.Store)(nil)

// Abandoned dynamic registrations are found by their last use (or creation when never
// used); static clients and recently used ones are not, and PruneUnusedClients removes
// exactly the abandoned ones.
func TestListUnusedClients_DynamicByLastUse(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		now := time.Now().UTC()
		add := func(id string, src provider.ClientSource, created time.Time) {
			t.Helper()
			cl := &provider.Client{ID: id, Public: true, Source: src, RedirectURIs: []string{"http://127.0.0.1/cb"},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, CreatedAt: created, UpdatedAt: created}
			if err := s.CreateClient(c, cl); err != nil {
				t.Fatal(err)
			}
		}
		old := now.Add(-48 * time.Hour)
		add("old-unused", provider.ClientSourceDynamic, old)
		add("old-used-recently", provider.ClientSourceDynamic, old)
		add("old-static", provider.ClientSourceStatic, old)
		add("new-unused", provider.ClientSourceDynamic, now)
		if err := s.TouchClient(c, "old-used-recently", now); err != nil {
			t.Fatal(err)
		}
		ids, err := s.ListUnusedClients(c, now.Add(-24*time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{"old-unused"}) {
			t.Fatalf("ListUnusedClients = %q; want [old-unused]", ids)
		}
		n, err := registration.PruneUnusedClients(c, s, 24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("PruneUnusedClients = %d, %v; want 1", n, err)
		}
		for id, want := range map[string]bool{"old-unused": false, "old-used-recently": true, "old-static": true, "new-unused": true} {
			if _, err := s.LoadClient(c, id); (err == nil) != want {
				t.Errorf("client %s present = %v; want %v", id, err == nil, want)
			}
		}
	})
}
