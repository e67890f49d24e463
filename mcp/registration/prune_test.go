package registration_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// listingStore adds registration.UnusedClientLister to the real store with one query on
// its table: gormstore has no listing method yet (see the report), so the test supplies it.
type listingStore struct{ *gormstore.Store }

func (s listingStore) ListUnusedClients(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	var ids []string
	err := s.DB().WithContext(ctx).Table("oauth_clients").
		Where("source = ? AND COALESCE(last_used_at, created_at) < ?", string(provider.ClientSourceDynamic), cutoff.UTC()).
		Order("id").Limit(limit).Pluck("id", &ids).Error
	return ids, err
}

// Clients unused for the configured time are removed with their grants; static clients
// and recently used ones stay.
func TestPruneUnusedClients(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		ctx := context.Background()
		old := time.Now().Add(-100 * 24 * time.Hour).UTC()
		create := func(id string, source provider.ClientSource, created time.Time) {
			t.Helper()
			c := &provider.Client{ID: id, Public: true, Source: source, CreatedAt: created, UpdatedAt: created,
				RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		create("old-unused", provider.ClientSourceDynamic, old)
		create("old-used-recently", provider.ClientSourceDynamic, old)
		create("old-static", provider.ClientSourceStatic, old)
		create("new", provider.ClientSourceDynamic, time.Now().UTC())
		for i := range 230 { // more than one batch
			create("bulk-"+string(rune('a'+i/26))+string(rune('a'+i%26)), provider.ClientSourceDynamic, old)
		}
		if err := s.TouchClient(ctx, "old-used-recently", time.Now()); err != nil {
			t.Fatal(err)
		}

		n, err := registration.PruneUnusedClients(ctx, listingStore{s}, 90*24*time.Hour)
		if err != nil || n != 231 {
			t.Fatalf("PruneUnusedClients = %d, %v; want 231", n, err)
		}
		for id, want := range map[string]bool{"old-unused": false, "bulk-aa": false, "old-used-recently": true, "old-static": true, "new": true} {
			_, err := s.LoadClient(ctx, id)
			if exists := err == nil; exists != want || (err != nil && !errors.Is(err, fosite.ErrNotFound)) {
				t.Errorf("%s: exists=%v (%v), want %v", id, exists, err, want)
			}
		}
		if n, err := registration.PruneUnusedClients(ctx, listingStore{s}, 90*24*time.Hour); n != 0 || err != nil {
			t.Errorf("second run = %d, %v", n, err)
		}
		if _, err := registration.PruneUnusedClients(ctx, listingStore{s}, 0); err == nil {
			t.Error("olderThan 0 accepted")
		}
	})
}
