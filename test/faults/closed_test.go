package faults_test

import (
	"context"
	"path/filepath"
	"testing"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// TestIssue14_ClosedStore: a Store closed under a running server (shutdown racing requests,
// or a pool closed by its owner) is a storage outage like any other: every request that
// reaches the database answers 503 temporarily_unavailable with Retry-After in the RFC 6749
// §5.2 error format, never a 500 server_error ("sql: database is closed" says nothing about
// the request).
func TestIssue14_ClosedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	s, err := gormstore.OpenSQLite(path, storeOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, s, nil)
	c := newClient(resourceURL)
	g := c.login(t, r.Base, r.Base, r.Base)
	pending, auth, verifier := c.pendingCode(t, r.Base)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := c.authorize(r.Base, g.ClientID)
	for _, rep := range []reply{
		c.register(r.Base),
		a,
		c.exchange(r.Base, pending, auth, verifier),
		c.refresh(r.Base, g.ClientID, g.RefreshToken),
		c.revoke(r.Base, g.ClientID, g.RefreshToken),
	} {
		if !rep.unavailable() {
			t.Errorf("%v (location %q); want 503 temporarily_unavailable with Retry-After", rep, rep.Location)
		}
	}
}
