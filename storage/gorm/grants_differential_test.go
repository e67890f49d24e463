package gormstore_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// grantRowState is what an approval may change on a grant row, as read back.
type grantRowState struct {
	Scopes      []string
	ScopesText  string    // the column as stored
	Tokens      time.Time // zero: never
	Consent     time.Time // zero: not remembered
	Fingerprint string
	RowExpiry   sql.NullTime
	Requests    int64
}

// TestRecordGrant_SQLMergeMatchesGoMerge checks that PostgreSQL's one-statement merge
// (INSERT … ON CONFLICT DO UPDATE) and SQLite's merge in Go leave the same grant after the
// same approvals: random sequences of scopes (repeated, reordered, with characters JSON
// escapes, empty), token expiries (earlier, later, never), remembered consent (for the
// same or another client fingerprint, earlier or later than before), recorded through
// RecordGrant and through IssueCode. The row is compared after every approval, the scopes
// both decoded and as the stored JSON text.
func TestRecordGrant_SQLMergeMatchesGoMerge(t *testing.T) {
	backends := gormtest.Backends(t)
	if len(backends) < 2 {
		t.Log("PostgreSQL is not available: SQLite's merge is compared with itself")
	}
	stores := make([]*gormstore.Store, len(backends))
	clients := make([]*provider.Client, len(backends))
	for i, b := range backends {
		stores[i] = gormtest.Open(t, b)
		clients[i] = mustCreateClient(t, stores[i], "differential-client")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	base := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
	scopePool := []string{"read", "write", "a<b&c", `quote"d`, "ünï", "tools:call", ""}
	pick := func() time.Time { // zero (never, or not remembered) one time in four
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		return base.Add(time.Duration(rng.IntN(48*60)) * time.Minute).Add(time.Duration(rng.IntN(1e6)) * time.Microsecond)
	}
	for seq := range 60 {
		subject := fmt.Sprintf("subject-%d", seq)
		for step := range 1 + rng.IntN(8) {
			rec := provider.GrantRecord{
				RequestID: fmt.Sprintf("req-%d-%d", seq, step),
				Subject:   subject,
				Resources: []string{"https://mcp.example/b", "https://mcp.example/a"},
				At:        base,
				ExpiresAt: pick(),
			}
			for range rng.IntN(5) {
				rec.Scopes = append(rec.Scopes, scopePool[rng.IntN(len(scopePool))])
			}
			if rng.IntN(3) == 0 {
				rec.RememberUntil = pick()
				rec.ClientFingerprint = []string{"", "F1", "F2"}[rng.IntN(3)]
			}
			viaCode := rng.IntN(2) == 0
			var got []grantRowState
			for i, s := range stores {
				r := rec
				r.ClientID = clients[i].ID
				var err error
				if viaCode {
					err = s.IssueCode(ctx(t), provider.CodeIssue{Signature: "code-" + r.RequestID,
						Request: newRequest(clients[i], r.RequestID, "code"), Grant: &r})
				} else {
					err = s.RecordGrant(ctx(t), r)
				}
				if err != nil {
					t.Fatalf("%s: sequence %d, step %d (%+v): %v", backends[i], seq, step, r, err)
				}
				got = append(got, readGrantRow(t, s, subject, clients[i].ID))
			}
			for i := 1; i < len(got); i++ {
				if !grantRowsEqual(got[0], got[i]) {
					t.Fatalf("sequence %d, step %d, approval %+v:\n%s: %+v\n%s: %+v", seq, step, rec, backends[0], got[0], backends[i], got[i])
				}
			}
		}
	}
}

// readGrantRow reads the grant of subject and clientID on the two resources.
func readGrantRow(t *testing.T, s *gormstore.Store, subject, clientID string) grantRowState {
	t.Helper()
	g, err := s.GetGrant(ctx(t), subject, clientID, []string{"https://mcp.example/a", "https://mcp.example/b"})
	if err != nil {
		t.Fatalf("GetGrant: %v", err)
	}
	st := grantRowState{Scopes: g.Scopes, Tokens: g.ExpiresAt, Consent: g.ConsentRememberedUntil, Fingerprint: g.ClientFingerprint}
	db := s.DB().WithContext(ctx(t))
	var expiry []sql.NullTime
	if err := db.Raw("SELECT expires_at FROM oauth_grants WHERE id = ?", g.ID).Scan(&expiry).Error; err != nil || len(expiry) != 1 {
		t.Fatalf("grant row's expiry: %v (%d rows)", err, len(expiry))
	}
	st.RowExpiry = expiry[0]
	if err := db.Raw("SELECT scopes FROM oauth_grants WHERE id = ?", g.ID).Scan(&st.ScopesText).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw("SELECT count(*) FROM oauth_grant_requests WHERE grant_id = ?", g.ID).Scan(&st.Requests).Error; err != nil {
		t.Fatal(err)
	}
	return st
}

func grantRowsEqual(a, b grantRowState) bool {
	return slices.Equal(a.Scopes, b.Scopes) && a.ScopesText == b.ScopesText && a.Tokens.Equal(b.Tokens) && a.Consent.Equal(b.Consent) &&
		a.Fingerprint == b.Fingerprint && a.RowExpiry.Valid == b.RowExpiry.Valid &&
		a.RowExpiry.Time.Equal(b.RowExpiry.Time) && a.Requests == b.Requests
}
