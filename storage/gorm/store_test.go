package gormstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

func TestMigrate_IdempotentAndVersioned(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		v1, err := s.SchemaVersion(c)
		if err != nil || v1 < 1 {
			t.Fatalf("SchemaVersion after Migrate = %d, %v; want ≥ 1", v1, err)
		}
		countRows := func() (rows, versions int64) {
			t.Helper()
			q := s.DB().Table("oauth_schema_migrations")
			if err := q.Count(&rows).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.DB().Table("oauth_schema_migrations").Distinct("version").Count(&versions).Error; err != nil {
				t.Fatal(err)
			}
			return rows, versions
		}
		before, _ := countRows()
		mustCreateClient(t, s, "keep-me")
		if err := s.Migrate(c); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		v2, err := s.SchemaVersion(c)
		if err != nil || v2 != v1 {
			t.Fatalf("SchemaVersion after second Migrate = %d, %v; want %d", v2, err, v1)
		}
		// Versions need not be contiguous (branches add migrations in parallel); each
		// applied version has exactly one row, and a second Migrate adds none.
		if rows, versions := countRows(); rows != before || rows != versions {
			t.Fatalf("oauth_schema_migrations has %d rows for %d versions (%d before the second Migrate); want one per version", rows, versions, before)
		}
		if _, err := s.LoadClient(c, "keep-me"); err != nil {
			t.Fatalf("data lost by second Migrate: %v", err)
		}
	})
}

func TestMigrate_ConcurrentCallersOnOneDatabase(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		stores := make([]*gormstore.Store, 4)
		for i := range stores {
			s, err := db.OpenUnmigrated(t, opts)
			if err != nil {
				t.Fatal(err)
			}
			stores[i] = s
		}
		errs := make(chan error, len(stores))
		for _, s := range stores {
			go func() { errs <- s.Migrate(ctx(t)) }()
		}
		for range stores {
			if err := <-errs; err != nil {
				t.Errorf("concurrent Migrate: %v", err)
			}
		}
	})
}

func TestNew_OptionsValidation(t *testing.T) {
	key := func(id string, n int) gormstore.Key { return gormstore.Key{ID: id, Secret: make([]byte, n)} }
	cases := []struct {
		name string
		keys []gormstore.Key
		ok   bool
	}{
		{"no keys is refused (encryption at rest is required)", nil, false},
		{"16-byte key is refused (AES-256 needs 32)", []gormstore.Key{key("a", 16)}, false},
		{"empty key ID is refused", []gormstore.Key{key("", 32)}, false},
		{"key ID with a space is refused", []gormstore.Key{key("a b", 32)}, false},
		{"duplicate key IDs are refused", []gormstore.Key{key("a", 32), key("a", 32)}, false},
		{"one 32-byte key is accepted", []gormstore.Key{key("a", 32)}, true},
		{"rotation list is accepted", []gormstore.Key{key("b", 32), key("a", 32)}, true},
	}
	db := gormtest.NewDatabase(t, gormtest.SQLite)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.OpenUnmigrated(t, gormstore.Options{EncryptionKeys: tc.keys})
			if (err == nil) != tc.ok {
				t.Fatalf("OpenSQLite error = %v; want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestOpenSQLite_InMemory(t *testing.T) {
	s, err := gormstore.OpenSQLite(":memory:", gormtest.DefaultOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := ctx(t)
	if err := s.Migrate(c); err != nil {
		t.Fatal(err)
	}
	cl := mustCreateClient(t, s, "mem")
	req := newRequest(cl, "req-mem", "m")
	tx, err := s.BeginTX(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccessTokenSession(tx, "sig", req); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(tx, "sig", &fosite.DefaultSession{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(tx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(c, "sig", nil); err != nil {
		t.Fatal(err)
	}
}

// ---- clients ----

func TestClientStore_CRUD(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		want := newClient(t, "client-1")
		if err := s.CreateClient(c, want); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
		got, err := s.LoadClient(c, "client-1")
		if err != nil {
			t.Fatalf("LoadClient: %v", err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("LoadClient round trip (-want +got):\n%s", d)
		}
		fc, err := s.GetClient(c, "client-1")
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		if _, ok := fc.(*provider.Client); !ok {
			t.Errorf("GetClient returned %T; want *provider.Client", fc)
		}

		t.Run("duplicate ID → ErrClientExists", func(t *testing.T) {
			err := s.CreateClient(c, newClient(t, "client-1"))
			if !errors.Is(err, provider.ErrClientExists) {
				t.Fatalf("CreateClient duplicate = %v; want ErrClientExists", err)
			}
		})
		t.Run("unknown → ErrNotFound", func(t *testing.T) {
			if _, err := s.GetClient(c, "nope"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("GetClient = %v; want ErrNotFound", err)
			}
			if _, err := s.LoadClient(c, "nope"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("LoadClient = %v; want ErrNotFound", err)
			}
			if err := s.UpdateClient(c, newClient(t, "nope")); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("UpdateClient = %v; want ErrNotFound", err)
			}
			if err := s.DeleteClient(c, "nope"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("DeleteClient = %v; want ErrNotFound", err)
			}
		})
		t.Run("public client keeps nil secret and zero times", func(t *testing.T) {
			pub := &provider.Client{ID: "public-1", Public: true, TokenEndpointAuthMethod: provider.AuthMethodNone,
				RedirectURIs: []string{"http://127.0.0.1/cb"}}
			if err := s.CreateClient(c, pub); err != nil {
				t.Fatal(err)
			}
			got, err := s.LoadClient(c, "public-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.SecretHash != nil || !got.SecretExpiresAt.IsZero() || !got.LastUsedAt.IsZero() || !got.Public {
				t.Errorf("public client = %+v", got)
			}
			if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
				t.Errorf("CreatedAt/UpdatedAt not defaulted: %v %v", got.CreatedAt, got.UpdatedAt)
			}
		})
		t.Run("update replaces metadata, keeps created_at", func(t *testing.T) {
			upd := newClient(t, "client-1")
			upd.Name = "Renamed"
			upd.RedirectURIs = []string{"https://other.example/cb"}
			upd.SecretHash = nil
			upd.SecretExpiresAt = time.Time{}
			upd.Contacts = nil
			upd.CreatedAt = time.Time{}
			upd.UpdatedAt = want.UpdatedAt.Add(time.Hour)
			if err := s.UpdateClient(c, upd); err != nil {
				t.Fatalf("UpdateClient: %v", err)
			}
			got, err := s.LoadClient(c, "client-1")
			if err != nil {
				t.Fatal(err)
			}
			upd.CreatedAt = want.CreatedAt
			if d := cmp.Diff(upd, got); d != "" {
				t.Errorf("after update (-want +got):\n%s", d)
			}
		})
		t.Run("TouchClient records last use, at most once a minute", func(t *testing.T) {
			at := time.Now().UTC().Truncate(time.Microsecond)
			if err := s.TouchClient(c, "client-1", at); err != nil {
				t.Fatal(err)
			}
			if err := s.TouchClient(c, "client-1", at.Add(30*time.Second)); err != nil {
				t.Fatal(err)
			}
			got, _ := s.LoadClient(c, "client-1")
			if !got.LastUsedAt.Equal(at) {
				t.Errorf("LastUsedAt = %v; want %v", got.LastUsedAt, at)
			}
			if err := s.TouchClient(c, "client-1", at.Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
			got, _ = s.LoadClient(c, "client-1")
			if !got.LastUsedAt.Equal(at.Add(2 * time.Minute)) {
				t.Errorf("LastUsedAt = %v; want %v", got.LastUsedAt, at.Add(2*time.Minute))
			}
			if err := s.TouchClient(c, "nope", at); err != nil {
				t.Errorf("TouchClient unknown = %v; want nil", err)
			}
		})
	})
}

// A client ID that PostgreSQL's text cannot hold (NUL, invalid UTF-8) is refused by
// CreateClient and finds nothing in LoadClient, alike on both databases: before, SQLite
// stored it and PostgreSQL failed the lookup with an error that RFC 7592's endpoint
// answered with a 500.
func TestClientStore_UnstorableIDs(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		for _, id := range []string{"a\x00b", "a\xffb"} {
			if err := s.CreateClient(ctx(t), &provider.Client{ID: id, Public: true}); err == nil {
				t.Errorf("CreateClient(%q): stored, want an error", id)
			}
			if _, err := s.LoadClient(ctx(t), id); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("LoadClient(%q): %v, want fosite.ErrNotFound", id, err)
			}
		}
	})
}

func TestDeleteClient_RemovesEverythingIssuedToIt(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		victim := mustCreateClient(t, s, "victim")
		other := mustCreateClient(t, s, "other")
		for _, cl := range []*provider.Client{victim, other} {
			req := newRequest(cl, "req-"+cl.ID, "m")
			must(t, s.CreateAuthorizeCodeSession(c, "code-"+cl.ID, req))
			must(t, s.CreatePKCERequestSession(c, "code-"+cl.ID, req))
			must(t, s.CreateAccessTokenSession(c, "at-"+cl.ID, req))
			must(t, s.CreateRefreshTokenSession(c, "rt-"+cl.ID, "at-"+cl.ID, req))
			must(t, s.CreatePendingAuthorization(c, "pa-"+cl.ID, &provider.PendingAuthorization{
				ClientID: cl.ID, Form: url.Values{"a": {"b"}}, ExpiresAt: time.Now().Add(time.Minute)}))
		}
		must(t, s.DeleteClient(c, "victim"))

		for _, tc := range []struct {
			id    string
			alive bool
		}{{"victim", false}, {"other", true}} {
			checks := map[string]error{}
			_, checks["code"] = s.GetAuthorizeCodeSession(c, "code-"+tc.id, nil)
			_, checks["pkce"] = s.GetPKCERequestSession(c, "code-"+tc.id, nil)
			_, checks["access"] = s.GetAccessTokenSession(c, "at-"+tc.id, nil)
			_, checks["refresh"] = s.GetRefreshTokenSession(c, "rt-"+tc.id, nil)
			_, checks["pending"] = s.GetPendingAuthorization(c, "pa-"+tc.id)
			_, checks["client"] = s.LoadClient(c, tc.id)
			for what, err := range checks {
				if tc.alive && err != nil {
					t.Errorf("%s of %s: %v; want it kept", what, tc.id, err)
				}
				if !tc.alive && !errors.Is(err, fosite.ErrNotFound) {
					t.Errorf("%s of %s: %v; want ErrNotFound after DeleteClient", what, tc.id, err)
				}
			}
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenSQLite_PathWithURICharacters pins that the file path is escaped in the SQLite URI:
// '#', '?' and '%' are legal in file names (t.TempDir() produces '#' for repeated subtests).
func TestOpenSQLite_PathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#b?c%41 d")
	must(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "oauth.db")
	s, err := gormstore.OpenSQLite(path, gormtest.DefaultOptions(t))
	must(t, err)
	defer s.Close()
	must(t, s.Migrate(ctx(t)))
	mustCreateClient(t, s, "c")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

// Upgrading a database with rows in it: a database migrated to version 8 or 9 (the
// grants, then the inactive refresh token index) and filled by this code (a client, a code,
// an access token, a rotated refresh token and its successor, a grant, a pending
// authorization) is migrated to the newest version by a second store on the same keys,
// which reads every row, keeps the rotated token inactive and revokes the grant's tokens.
func TestMigrate_UpgradeWithRows(t *testing.T) {
	for _, from := range []int{8, 9} {
		t.Run(fmt.Sprint("from ", from), func(t *testing.T) {
			gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
				c := ctx(t)
				opts := gormtest.DefaultOptions(t)
				old, err := db.OpenUnmigrated(t, opts)
				must(t, err)
				must(t, gormstore.MigrateTo(old, c, from))
				if v, err := old.SchemaVersion(c); err != nil || v != from {
					t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, from)
				}
				cl := mustCreateClient(t, old, randomString(t, "client-"))
				must(t, old.CreateAuthorizeCodeSession(c, "code-1", newRequest(cl, "grant-1", "code")))
				must(t, old.CreateAccessTokenSession(c, "at-1", newRequest(cl, "grant-1", "at")))
				must(t, old.CreateRefreshTokenSession(c, "rt-1", "at-1", newRequest(cl, "grant-1", "rt")))
				must(t, inTX(old, c, func(tx context.Context) error {
					if err := old.RotateRefreshToken(tx, "grant-1", "rt-1"); err != nil {
						return err
					}
					return old.CreateRefreshTokenSession(tx, "rt-2", "", newRequest(cl, "grant-1", "rt"))
				}))
				now := time.Now().UTC().Truncate(time.Second)
				must(t, old.RecordGrant(c, provider.GrantRecord{RequestID: "grant-1", Subject: "alice", ClientID: cl.ID,
					Resources: []string{"https://mcp.example/"}, Scopes: []string{"read"}, At: now, ExpiresAt: now.Add(time.Hour)}))
				must(t, old.CreatePendingAuthorization(c, "pending-1", &provider.PendingAuthorization{ClientID: cl.ID,
					Form: url.Values{"state": {"x"}}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}))

				s := db.Open(t, opts) // migrates to the newest version
				if v, err := s.SchemaVersion(c); err != nil || v <= from {
					t.Fatalf("SchemaVersion after Migrate = %d, %v; want above %d", v, err, from)
				}
				if _, err := s.LoadClient(c, cl.ID); err != nil {
					t.Errorf("client: %v", err)
				}
				if _, err := s.GetAuthorizeCodeSession(c, "code-1", &fosite.DefaultSession{}); err != nil {
					t.Errorf("code: %v", err)
				}
				if _, err := s.GetRefreshTokenSession(c, "rt-2", &fosite.DefaultSession{}); err != nil {
					t.Errorf("refresh token: %v", err)
				}
				if _, err := s.GetRefreshTokenSession(c, "rt-1", &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrInactiveToken) {
					t.Errorf("rotated refresh token: %v; want inactive", err)
				}
				if _, err := s.GetPendingAuthorization(c, "pending-1"); err != nil {
					t.Errorf("pending authorization: %v", err)
				}
				if gs, _, err := s.ListGrants(c, provider.GrantFilter{Subject: "alice"}, "", 10); err != nil || len(gs) != 1 {
					t.Fatalf("grants: %v, %v", gs, err)
				}
				if n, err := s.RevokeGrants(c, provider.GrantFilter{Subject: "alice"}); err != nil || n != 1 {
					t.Fatalf("RevokeGrants: %d, %v", n, err)
				}
				if _, err := s.GetRefreshTokenSession(c, "rt-2", &fosite.DefaultSession{}); err == nil {
					t.Error("the grant's refresh token still active after RevokeGrants")
				}
			})
		})
	}
}
