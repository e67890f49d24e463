package faults_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// newReplicas starts three replicas on one PostgreSQL database (a schema of the shared
// test cluster), each with a connection pool of its own.
func newReplicas(t *testing.T, opts *compat.Options) []*replica {
	t.Helper()
	db := gormtest.NewDatabase(t, gormtest.Postgres)
	var rs []*replica
	for range 3 {
		rs = append(rs, newReplica(t, db.Open(t, storeOptions()), opts))
	}
	return rs
}

// TestIssue14_ThreeReplicasRoundRobin: requests rotate across three replicas on one
// PostgreSQL, as behind a round-robin proxy — register on one, authorize on another,
// exchange the code on the third, then refresh and call the MCP endpoint on each in turn,
// revoke on one and find the token refused on all — and every step works wherever it
// lands.
func TestIssue14_ThreeReplicasRoundRobin(t *testing.T) {
	rs := newReplicas(t, nil)
	c := newClient(resourceURL)
	for start := range 3 {
		at := func(i int) string { return rs[(start+i)%3].Base }
		g := c.login(t, at(0), at(1), at(2))
		for i := range 3 {
			if r := c.call(at(i)+"/mcp", g.AccessToken); r.Status != http.StatusOK {
				t.Fatalf("MCP call on replica %d: %v", (start+i)%3, r)
			}
			r := c.refresh(at(i), g.ClientID, g.RefreshToken)
			if !r.ok() {
				t.Fatalf("refresh on replica %d: %v", (start+i)%3, r)
			}
			g.AccessToken, g.RefreshToken = r.AccessToken, r.RefreshToken
		}
		if r := c.revoke(at(1), g.ClientID, g.RefreshToken); r.Status != http.StatusOK {
			t.Fatalf("revoke: %v", r)
		}
		for i := range 3 {
			if r := c.call(at(i)+"/mcp", g.AccessToken); r.Status != http.StatusUnauthorized {
				t.Errorf("MCP call on replica %d after revocation: %v; want 401", (start+i)%3, r)
			}
		}
	}
}

// TestIssue14_ThreeReplicasConcurrentRefresh: one refresh token used at once on all three
// replicas (three requests each) obeys the rotation rules as on one server. With the
// grace window (compat.Default) exactly 1+MaxReuses requests succeed, each with tokens
// that work on every replica, and the rest get invalid_grant; with strict rotation
// exactly one succeeds (the losers get invalid_grant, or fosite's invalid_request "multiple
// concurrent requests using the same token"). Nothing else (no 5xx, no invalid_client)
// is answered.
func TestIssue14_ThreeReplicasConcurrentRefresh(t *testing.T) {
	strict := compat.Default()
	strict.RefreshGrace = compat.RefreshGrace{}
	for _, m := range []struct {
		name string
		opts *compat.Options
		want int
	}{
		{"grace_window", nil, 1 + compat.DefaultRefreshGraceMaxReuses},
		{"strict_rotation", &strict, 1},
	} {
		t.Run(m.name, func(t *testing.T) {
			rs := newReplicas(t, m.opts)
			c := newClient(resourceURL)
			g := c.login(t, rs[0].Base, rs[1].Base, rs[2].Base)

			const n = 9
			replies := make([]reply, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					replies[i] = c.refresh(rs[i%3].Base, g.ClientID, g.RefreshToken)
				}()
			}
			close(start)
			wg.Wait()
			var won []reply
			for _, r := range replies {
				switch {
				case r.ok():
					won = append(won, r)
				case r.Status == http.StatusBadRequest && r.Error == "invalid_grant":
				case r.Status == http.StatusBadRequest && r.Error == "invalid_request" && m.opts != nil &&
					strings.Contains(r.Body, "concurrent"):
				default:
					t.Errorf("%v; want 200 or 400 invalid_grant", r)
				}
			}
			if len(won) != m.want {
				t.Fatalf("%d of %d concurrent refreshes across replicas succeeded; want %d", len(won), n, m.want)
			}
			if m.opts != nil {
				return // strict rotation: the losers' reuse may have revoked the grant
			}
			for i, w := range won {
				for j, r := range rs {
					if got := c.call(r.Base+"/mcp", w.AccessToken); got.Status != http.StatusOK {
						t.Errorf("winner %d's access token on replica %d: %v", i, j, got)
					}
				}
			}
		})
	}
}
