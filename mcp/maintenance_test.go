package mcp_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Maintain purges expired rows and removes dynamic clients unused for
// UnusedClientLifetime, keeping static and recently used ones.
func TestServer_Maintain(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		_, base, auth := newServer(t, store, func(c *mcp.Config) {
			c.Maintenance = mcp.Maintenance{UnusedClientLifetime: 24 * time.Hour}
		})
		ctx := t.Context()
		usedID, _ := login(t, base) // registered and used just now
		old := time.Now().Add(-48 * time.Hour)
		for id, src := range map[string]provider.ClientSource{"abandoned": provider.ClientSourceDynamic, "static": provider.ClientSourceStatic} {
			if err := store.CreateClient(ctx, &provider.Client{ID: id, Public: true, Source: src, RedirectURIs: []string{"http://127.0.0.1/cb"},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, CreatedAt: old, UpdatedAt: old}); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.CreatePendingAuthorization(ctx, "expired-request", &provider.PendingAuthorization{ClientID: "static",
			Form: url.Values{"a": {"b"}}, CreatedAt: old, ExpiresAt: old.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		purged, pruned, err := auth.Maintain(ctx)
		if err != nil || purged < 1 || pruned != 1 {
			t.Fatalf("Maintain = %d purged, %d pruned, %v; want ≥ 1, 1, nil", purged, pruned, err)
		}
		for id, want := range map[string]bool{"abandoned": false, "static": true, usedID: true} {
			if _, err := store.LoadClient(ctx, id); (err == nil) != want {
				t.Errorf("client %s present = %v; want %v", id, err == nil, want)
			}
		}
	})
}

// Issue 14 finding 11: Maintain also prunes client ID metadata document rows, after the
// shorter default UnusedMetadataDocumentClientLifetime (7 days), while dynamic
// registrations keep their 90 days.
func TestIssue14Finding11_MaintainPrunesMetadataDocumentClients(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		_, _, auth := newServer(t, store)
		ctx := t.Context()
		add := func(id string, src provider.ClientSource, age time.Duration) {
			t.Helper()
			created := time.Now().Add(-age)
			if err := store.CreateClient(ctx, &provider.Client{ID: id, Public: true, Source: src, RedirectURIs: []string{"http://127.0.0.1/cb"},
				GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, CreatedAt: created, UpdatedAt: created}); err != nil {
				t.Fatal(err)
			}
		}
		day := 24 * time.Hour
		add("https://old.example/client.json", provider.ClientSourceMetadataDocument, mcp.DefaultUnusedMetadataDocumentClientLifetime+day)
		add("https://young.example/client.json", provider.ClientSourceMetadataDocument, mcp.DefaultUnusedMetadataDocumentClientLifetime-day)
		add("dynamic-8-days", provider.ClientSourceDynamic, 8*day)
		_, pruned, err := auth.Maintain(ctx)
		if err != nil || pruned != 1 {
			t.Fatalf("Maintain pruned %d, %v; want 1", pruned, err)
		}
		for id, want := range map[string]bool{"https://old.example/client.json": false, "https://young.example/client.json": true, "dynamic-8-days": true} {
			if _, err := store.LoadClient(ctx, id); (err == nil) != want {
				t.Errorf("client %s present = %v; want %v", id, err == nil, want)
			}
		}
	})
}

// Maintain reports the rows it purged to the observer (observe.Purged, the
// purged_rows_total metric).
func TestServer_MaintainReportsPurge(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		var purged atomic.Int64
		obs := observe.Func(func(_ context.Context, e observe.Event) {
			if e.Kind == observe.Purged {
				purged.Add(e.Count)
			}
		})
		_, _, auth := newServer(t, store, func(c *mcp.Config) { c.Provider.Observer = obs })
		ctx := t.Context()
		old := time.Now().Add(-48 * time.Hour)
		if err := store.CreateClient(ctx, &provider.Client{ID: "static", Public: true, Source: provider.ClientSourceStatic, RedirectURIs: []string{"http://127.0.0.1/cb"},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, CreatedAt: old, UpdatedAt: old}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"expired-1", "expired-2"} {
			if err := store.CreatePendingAuthorization(ctx, id, &provider.PendingAuthorization{ClientID: "static",
				Form: url.Values{"a": {"b"}}, CreatedAt: old, ExpiresAt: old.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		n, _, err := auth.Maintain(ctx)
		if err != nil || n < 2 || purged.Load() != n {
			t.Fatalf("Maintain purged %d (%v), observer saw %d; want ≥ 2 and equal", n, err, purged.Load())
		}
	})
}

// Issue 10 (one vocabulary: no optional storage capability skipped silently): mcp.New
// refuses a storage that cannot do Run's maintenance, naming what is missing, instead
// of skipping the purge or the pruning; with the pruning it cannot do turned off
// (negative lifetimes), it starts.
func TestNew_RefusesStorageThatCannotMaintain(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		// The capabilities mcp.New needs beside maintenance: RFC 7592 registration and
		// compat's refresh grace.
		type base struct {
			provider.Storage
			provider.ClientCompareAndSwapper
			provider.RefreshTokenGraceStorage
		}
		type purger interface {
			Purge(ctx context.Context, before time.Time) (int64, error)
		}
		type purgeOnly struct {
			base
			purger
		}
		cfg := func(s provider.Storage, m mcp.Maintenance) mcp.Config {
			return mcp.Config{
				Provider: provider.Config{Issuer: "https://as.example", Storage: s, GlobalSecret: make([]byte, 32),
					AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "", false },
					Logger:      slog.New(slog.DiscardHandler)},
				Resources:   []resourceserver.Resource{{URL: "https://mcp.example/mcp"}},
				Maintenance: m,
				Logger:      slog.New(slog.DiscardHandler),
			}
		}
		noPurge := base{store, store, store}
		if _, err := mcp.New(t.Context(), cfg(noPurge, mcp.Maintenance{})); err == nil || !strings.Contains(err.Error(), "Purge") {
			t.Fatalf("mcp.New on a storage without Purge: %v, want an error naming Purge", err)
		}
		noPrune := purgeOnly{noPurge, store}
		if _, err := mcp.New(t.Context(), cfg(noPrune, mcp.Maintenance{})); err == nil || !strings.Contains(err.Error(), "Maintenance.UnusedClientLifetime") {
			t.Fatalf("mcp.New on a storage that cannot prune clients: %v, want an error naming Maintenance.UnusedClientLifetime", err)
		}
		keep := mcp.Maintenance{UnusedClientLifetime: -1, UnusedMetadataDocumentClientLifetime: -1}
		if _, err := mcp.New(t.Context(), cfg(noPrune, keep)); err != nil {
			t.Fatalf("mcp.New on a storage that purges, with pruning off: %v", err)
		}
		if _, err := mcp.New(t.Context(), cfg(store, mcp.Maintenance{})); err != nil {
			t.Fatalf("mcp.New on storage/gorm: %v", err)
		}
	})
}
