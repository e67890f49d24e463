package gormstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

func newDevice(clientID string, now time.Time, lifespan time.Duration) *provider.DeviceAuthorization {
	return &provider.DeviceAuthorization{ClientID: clientID, RequestID: "req-" + clientID, Scopes: []string{"read"},
		Resources: []string{"https://mcp.example/mcp"}, Status: provider.DeviceStatusPending,
		CreatedAt: now, ExpiresAt: now.Add(lifespan), Interval: 5 * time.Second}
}

// Round trip, decisions and consumption are single-winner conditional writes on both
// databases: of 20 concurrent approvals and then 20 concurrent consumptions exactly one
// succeeds each; the others get fosite.ErrNotFound.
func TestRFC8628_DeviceAuthorizationSingleWinner(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "dev")
		now := time.Now().UTC()
		if err := s.CreateDeviceAuthorization(c, "dc-sig", "uc-sig", newDevice("dev", now, time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDeviceAuthorization(c, "dc-sig-2", "uc-sig", newDevice("dev", now, time.Minute)); !errors.Is(err, fosite.ErrSerializationFailure) {
			t.Errorf("second row with the same user code: %v, want ErrSerializationFailure (caller draws again)", err)
		}
		got, err := s.GetDeviceAuthorizationByUserCode(c, "uc-sig")
		if err != nil || got.RequestID != "req-dev" || got.Status != provider.DeviceStatusPending || got.Interval != 5*time.Second || got.Scopes[0] != "read" {
			t.Fatalf("GetDeviceAuthorizationByUserCode = %+v, %v", got, err)
		}
		const n = 20
		run := func(fn func() error) (wins int) {
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = fn() }()
			}
			wg.Wait()
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, fosite.ErrNotFound):
					t.Errorf("loser's error %v, want ErrNotFound", err)
				}
			}
			return wins
		}
		if wins := run(func() error { return s.DecideDeviceAuthorization(c, "uc-sig", true, "alice", []string{"read"}) }); wins != 1 {
			t.Fatalf("%d approvals won, want 1", wins)
		}
		if _, err := s.GetDeviceAuthorizationByUserCode(c, "uc-sig"); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("a decided request is still offered for decision: %v", err)
		}
		d, _, err := s.PollDeviceAuthorization(c, "dc-sig", "dev", time.Now(), 5*time.Second)
		if err != nil || d.Status != provider.DeviceStatusApproved || d.Subject != "alice" || d.GrantedScopes[0] != "read" {
			t.Fatalf("poll after approval = %+v, %v", d, err)
		}
		if wins := run(func() error { return s.ConsumeDeviceAuthorization(c, "dc-sig") }); wins != 1 {
			t.Fatalf("%d consumptions won, want 1", wins)
		}
	})
}

// The polling interval lives in the row: a poll through one store right after a poll
// through another (two replicas on one database) is too fast and raises the interval
// by the step, and a poll after the raised interval is not.
func TestRFC8628_3_5_SlowDownAcrossReplicas(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		a, b := db.Open(t, opts), db.Open(t, opts)
		c := ctx(t)
		mustCreateClient(t, a, "dev")
		now := time.Now().UTC()
		d := newDevice("dev", now, time.Minute)
		d.Interval = time.Second
		if err := a.CreateDeviceAuthorization(c, "dc", "uc", d); err != nil {
			t.Fatal(err)
		}
		if _, fast, err := a.PollDeviceAuthorization(c, "dc", "dev", now, 5*time.Second); err != nil || fast {
			t.Fatalf("first poll: tooFast %v, %v", fast, err)
		}
		got, fast, err := b.PollDeviceAuthorization(c, "dc", "dev", now.Add(500*time.Millisecond), 5*time.Second)
		if err != nil || !fast || got.Interval != 6*time.Second {
			t.Fatalf("poll on the other replica 0.5 s later: tooFast %v interval %v, %v; want slow_down and 6 s", fast, got.Interval, err)
		}
		if _, fast, _ := a.PollDeviceAuthorization(c, "dc", "dev", now.Add(3*time.Second), 5*time.Second); !fast {
			t.Error("poll 2.5 s after the previous one with a 6 s interval was not too fast")
		}
		got, fast, err = b.PollDeviceAuthorization(c, "dc", "dev", now.Add(20*time.Second), 5*time.Second)
		if err != nil || fast || got.Interval != 11*time.Second {
			t.Errorf("poll after the raised interval: tooFast %v interval %v, %v; want ok and 11 s", fast, got.Interval, err)
		}
		if _, _, err := b.PollDeviceAuthorization(c, "dc", "other-client", now.Add(40*time.Second), 5*time.Second); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("another client's poll: %v, want ErrNotFound", err)
		}
	})
}

// Purge removes expired device authorizations and keeps live ones; a metadata document
// client with a live device authorization is not pruned.
func TestRFC8628_PurgeAndUnusedClients(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		now := time.Now().UTC()
		cimd := "https://device.example/client.json"
		cl := newClient(t, cimd)
		cl.Source, cl.CreatedAt, cl.UpdatedAt = provider.ClientSourceMetadataDocument, now.Add(-48*time.Hour), now.Add(-48*time.Hour)
		if err := s.CreateClient(c, cl); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDeviceAuthorization(c, "live", "uc-live", newDevice(cimd, now, time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDeviceAuthorization(c, "old", "uc-old", newDevice(cimd, now.Add(-time.Hour), time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ids, err := s.ListUnusedMetadataDocumentClients(c, now.Add(-24*time.Hour), 10); err != nil || len(ids) != 0 {
			t.Errorf("ListUnusedMetadataDocumentClients = %q, %v; the client has a live device authorization", ids, err)
		}
		if n, err := s.Purge(c, now); err != nil || n != 1 {
			t.Fatalf("Purge = %d, %v; want the expired device authorization", n, err)
		}
		if _, _, err := s.PollDeviceAuthorization(c, "old", cimd, now, time.Second); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("purged row still polled: %v", err)
		}
		if _, err := s.GetDeviceAuthorizationByUserCode(c, "uc-live"); err != nil {
			t.Errorf("live row: %v", err)
		}
	})
}

// Migration 10 on a database at version 9 that holds device authorizations: the rows
// written before it (request_id "") stay readable and decidable, and rows written after
// it carry their request ID, on both databases. The database is taken back to version 9
// by undoing migration 10 by hand.
func TestMigrate_DeviceRequestIDOnAnOlderDatabase(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		now := time.Now().UTC()
		cl := newClient(t, randomString(t, "device-client-"))
		must(t, s.CreateClient(c, cl))
		must(t, s.CreateDeviceAuthorization(c, "before", "uc-before", newDevice(cl.ID, now, 10*time.Minute)))
		for _, stmt := range []string{
			"DROP INDEX oauth_device_codes_request_id_idx",
			"ALTER TABLE oauth_device_codes DROP COLUMN request_id",
			"DELETE FROM oauth_schema_migrations WHERE version = 10",
		} {
			must(t, s.DB().Exec(stmt).Error)
		}
		if v, err := s.SchemaVersion(c); err != nil || v != 9 {
			t.Fatalf("SchemaVersion after undoing migration 10 = %d, %v", v, err)
		}
		must(t, s.Migrate(c))
		if v, err := s.SchemaVersion(c); err != nil || v != 10 {
			t.Fatalf("SchemaVersion after Migrate = %d, %v; want 10", v, err)
		}
		d, err := s.GetDeviceAuthorizationByUserCode(c, "uc-before")
		if err != nil || d.RequestID != "req-"+cl.ID {
			t.Fatalf("device authorization from before the migration: %+v, %v", d, err)
		}
		must(t, s.DecideDeviceAuthorization(c, "uc-before", true, "alice", []string{"read"}))
		must(t, s.CreateDeviceAuthorization(c, "after", "uc-after", newDevice(cl.ID, now, 10*time.Minute)))
		var ids []string
		must(t, s.DB().Table("oauth_device_codes").Order("request_id").Pluck("request_id", &ids).Error)
		if len(ids) != 2 || ids[0] != "" || ids[1] != "req-"+cl.ID {
			t.Errorf("request_id column = %q; want the old row's empty, the new row's set", ids)
		}
	})
}
