package gormtest

import (
	"errors"
	"testing"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

func TestWithSearchPath_RewritesEitherDSNForm(t *testing.T) {
	cases := []struct{ in, want string }{
		{"host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable",
			"host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable search_path=fresh"},
		{"postgres://u:p@h:5432/postgres?sslmode=disable", "postgres://u:p@h:5432/postgres?search_path=fresh&sslmode=disable"},
	}
	for _, tc := range cases {
		got, err := withSearchPath(tc.in, "fresh")
		if err != nil || got != tc.want {
			t.Errorf("withSearchPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRun_GivesEachBackendAFreshMigratedStore(t *testing.T) {
	var seen []string
	for round := range 2 {
		Run(t, func(t *testing.T, s *gormstore.Store) {
			seen = append(seen, s.Dialect())
			v, err := s.SchemaVersion(t.Context())
			if err != nil || v < 1 {
				t.Fatalf("SchemaVersion = %d, %v; want migrated", v, err)
			}
			if round == 0 {
				if err := s.CreateClient(t.Context(), &provider.Client{ID: "leftover"}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if _, err := s.LoadClient(t.Context(), "leftover"); !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("second Run sees the first one's client: %v", err)
			}
		})
	}
	if len(seen) == 0 || seen[0] != SQLite {
		t.Errorf("backends run = %v", seen)
	}
}
