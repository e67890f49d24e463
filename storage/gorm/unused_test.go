package gormstore_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

var _ registration.PruneStore = (*gormstore.Store)(nil)

// Abandoned dynamic registrations are found by their last use (or creation when never
// used); static clients, recently used ones and old ones with a login under way are not,
// and PruneUnusedClients removes exactly the abandoned ones.
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
		// An old registration whose first login is under way (a pending authorization, a
		// pending device authorization) is kept: pruning it deleted the login (a review).
		add("old-logging-in", provider.ClientSourceDynamic, old)
		if err := s.CreatePendingAuthorization(c, randomString(t, "pending-"), &provider.PendingAuthorization{ClientID: "old-logging-in",
			Form: url.Values{"state": {"x"}}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		add("old-device", provider.ClientSourceDynamic, old)
		if err := s.CreateDeviceAuthorization(c, randomString(t, "dev-"), randomString(t, "user-"), &provider.DeviceAuthorization{ClientID: "old-device",
			RequestID: randomString(t, "req-"), Status: provider.DeviceStatusPending, ExpiresAt: now.Add(10 * time.Minute), Interval: 5 * time.Second}); err != nil {
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
		for id, want := range map[string]bool{"old-unused": false, "old-used-recently": true, "old-static": true, "new-unused": true,
			"old-logging-in": true, "old-device": true} {
			if _, err := s.LoadClient(c, id); (err == nil) != want {
				t.Errorf("client %s present = %v; want %v", id, err == nil, want)
			}
		}
	})
}

var _ registration.MetadataDocumentPruneStore = (*gormstore.Store)(nil)

// Issue 14 finding 11: rows of clients from client ID metadata documents were never
// pruned, and any host can make the server add them. Old unused ones that hold nothing
// live are listed and pruned; those with a live refresh token or pending authorization,
// recently used ones and other clients are kept.
func TestIssue14Finding11_ListUnusedMetadataDocumentClients(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		now := time.Now().UTC()
		old := now.Add(-48 * time.Hour)
		add := func(id string, src provider.ClientSource, created time.Time) *provider.Client {
			t.Helper()
			cl := &provider.Client{ID: id, Public: true, Source: src, RedirectURIs: []string{"http://127.0.0.1/cb"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}, CreatedAt: created, UpdatedAt: created}
			if err := s.CreateClient(c, cl); err != nil {
				t.Fatal(err)
			}
			return cl
		}
		doc := func(name string) string { return "https://" + name + ".example/client.json" }
		add(doc("old-unused"), provider.ClientSourceMetadataDocument, old)
		add(doc("recent"), provider.ClientSourceMetadataDocument, now)
		add("dynamic-old", provider.ClientSourceDynamic, old)
		refresh := func(id string, expires time.Time) {
			t.Helper()
			req := newRequest(add(id, provider.ClientSourceMetadataDocument, old), randomString(t, "req-"), "m")
			req.Session.(*fosite.DefaultSession).SetExpiresAt(fosite.RefreshToken, expires)
			if err := s.CreateRefreshTokenSession(c, randomString(t, "sig-"), "", req); err != nil {
				t.Fatal(err)
			}
		}
		refresh(doc("live-refresh"), now.Add(24*time.Hour))
		refresh(doc("expired-refresh"), now.Add(-time.Hour))
		add(doc("pending"), provider.ClientSourceMetadataDocument, old)
		if err := s.CreatePendingAuthorization(c, randomString(t, "pending-"), &provider.PendingAuthorization{ClientID: doc("pending"),
			Form: url.Values{"state": {"x"}}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}

		ids, err := s.ListUnusedMetadataDocumentClients(c, now.Add(-24*time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		if want := []string{doc("expired-refresh"), doc("old-unused")}; !slices.Equal(ids, want) {
			t.Fatalf("ListUnusedMetadataDocumentClients = %q; want %q", ids, want)
		}
		n, err := registration.PruneUnusedMetadataDocumentClients(c, s, 24*time.Hour)
		if err != nil || n != 2 {
			t.Fatalf("PruneUnusedMetadataDocumentClients = %d, %v; want 2", n, err)
		}
		for id, want := range map[string]bool{doc("old-unused"): false, doc("expired-refresh"): false, doc("recent"): true,
			doc("live-refresh"): true, doc("pending"): true, "dynamic-old": true} {
			if _, err := s.LoadClient(c, id); (err == nil) != want {
				t.Errorf("client %s present = %v; want %v", id, err == nil, want)
			}
		}
	})
}

var _ registration.UnusedClientDeleter = (*gormstore.Store)(nil)

// listThenLogin is a prune store whose listings return their candidates and then let a
// login begin (a pending authorization for each), before the prune deletes anything.
type listThenLogin struct {
	*gormstore.Store
	t *testing.T
}

func (l listThenLogin) login(ctx context.Context, ids []string) {
	now := time.Now().UTC()
	for _, id := range ids {
		if err := l.CreatePendingAuthorization(ctx, randomString(l.t, "pending-"), &provider.PendingAuthorization{ClientID: id,
			Form: url.Values{"state": {"x"}}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l listThenLogin) ListUnusedClients(ctx context.Context, cutoff time.Time, n int) ([]string, error) {
	ids, err := l.Store.ListUnusedClients(ctx, cutoff, n)
	l.login(ctx, ids)
	return ids, err
}

func (l listThenLogin) ListUnusedMetadataDocumentClients(ctx context.Context, cutoff time.Time, n int) ([]string, error) {
	ids, err := l.Store.ListUnusedMetadataDocumentClients(ctx, cutoff, n)
	l.login(ctx, ids)
	return ids, err
}

// A login that begins between a prune's listing and its deletion keeps its client (and
// its pending authorization): the deletion re-checks the whole condition in one write
// (DeleteUnusedClient). Before, only the last use was re-checked, and the login was
// deleted with the client (found by a data-lifecycle review).
func TestPrune_LoginBetweenListingAndDeletion(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		old := time.Now().UTC().Add(-100 * 24 * time.Hour)
		for id, src := range map[string]provider.ClientSource{"dcr-old": provider.ClientSourceDynamic, "https://cimd.example/c.json": provider.ClientSourceMetadataDocument} {
			must(t, s.CreateClient(c, &provider.Client{ID: id, Public: true, Source: src, RedirectURIs: []string{"http://127.0.0.1/cb"},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, CreatedAt: old, UpdatedAt: old}))
		}
		racing := listThenLogin{Store: s, t: t}
		if n, err := registration.PruneUnusedClients(c, racing, 90*24*time.Hour); err != nil || n != 0 {
			t.Errorf("PruneUnusedClients = %d, %v; want 0", n, err)
		}
		if n, err := registration.PruneUnusedMetadataDocumentClients(c, racing, 7*24*time.Hour); err != nil || n != 0 {
			t.Errorf("PruneUnusedMetadataDocumentClients = %d, %v; want 0", n, err)
		}
		for _, id := range []string{"dcr-old", "https://cimd.example/c.json"} {
			if _, err := s.LoadClient(c, id); err != nil {
				t.Errorf("client %s with a login under way: %v; want kept", id, err)
			}
		}
		// And a plain prune afterwards keeps them too, while their logins are pending.
		if n, err := registration.PruneUnusedClients(c, s, 90*24*time.Hour); err != nil || n != 0 {
			t.Errorf("PruneUnusedClients with the login pending = %d, %v; want 0", n, err)
		}
	})
}
