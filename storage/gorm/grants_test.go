package gormstore_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Concurrent approvals of one grant (one user approving the same client for the same
// resources in several tabs, or on several replicas), half of them with their code
// (IssueCode): every one is recorded, the grant's scopes are their union, and revoking the
// grant reaches every request. On PostgreSQL all but one approval find the row inserted
// and merge into it under its row lock (grantUpsertSQL).
func TestRecordGrant_ConcurrentApprovalsOfOneGrant(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		const n = 8
		at := time.Now().UTC().Truncate(time.Second)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				rec := provider.GrantRecord{
					RequestID: fmt.Sprintf("req-%d", i), Subject: "alice", ClientID: client.ID,
					Resources: []string{"https://mcp.example/"}, Scopes: []string{"read", fmt.Sprintf("s%d", i)},
					At: at, ExpiresAt: at.Add(time.Duration(i+1) * time.Minute),
				}
				if i%2 == 0 { // the provider's way: with the approval's code
					errs[i] = s.IssueCode(c, provider.CodeIssue{Signature: "code-" + rec.RequestID,
						Request: newRequest(client, rec.RequestID, "code"), Grant: &rec})
					return
				}
				errs[i] = s.RecordGrant(c, rec)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("RecordGrant %d: %v", i, err)
			}
		}
		g, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"read"}
		for i := range n {
			want = append(want, fmt.Sprintf("s%d", i))
		}
		got := slices.Sorted(slices.Values(g.Scopes))
		if !slices.Equal(got, want) {
			t.Errorf("scopes %v; want %v", got, want)
		}
		if want := at.Add(n * time.Minute); !g.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt %v; want the latest approval's %v", g.ExpiresAt, want)
		}
		if !g.FirstGrantedAt.Equal(at) || !g.LastUsedAt.Equal(at) {
			t.Errorf("FirstGrantedAt %v, LastUsedAt %v; want %v", g.FirstGrantedAt, g.LastUsedAt, at)
		}
		revoked, err := s.RevokeGrants(c, provider.GrantFilter{Subject: "alice"})
		if err != nil || revoked != 1 {
			t.Fatalf("RevokeGrants = %d, %v; want 1", revoked, err)
		}
		if _, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"}); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("GetGrant after revocation: %v; want not found (every request of the grant revoked)", err)
		}
	})
}

// The provider records a grant in the transaction that stores its code: a rolled back
// transaction leaves no grant, a committed one leaves it with its request.
func TestRecordGrant_InCallersTransaction(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		rec := provider.GrantRecord{RequestID: "req-1", Subject: "bob", ClientID: client.ID, Scopes: []string{"read"},
			At: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
		tx, err := s.BeginTX(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RecordGrant(tx, rec); err != nil {
			t.Fatal(err)
		}
		if err := s.Rollback(tx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetGrant(c, "bob", client.ID, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("GetGrant after rollback: %v; want not found", err)
		}
		if tx, err = s.BeginTX(c); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordGrant(tx, rec); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(tx); err != nil {
			t.Fatal(err)
		}
		g, err := s.GetGrant(c, "bob", client.ID, nil)
		if err != nil || !slices.Equal(g.Scopes, []string{"read"}) {
			t.Fatalf("GetGrant after commit = %+v, %v; want the grant with scope read", g, err)
		}
	})
}

// An approval merges into its grant (provider.GrantRecord): its scopes are added, each
// once, after the grant's; the later token expiry wins (zero: never); remembering consent
// sets the consent's expiry and fingerprint, and drops the scopes given to another
// fingerprint; the grant row is purged when both its tokens and its consent have expired.
// PostgreSQL merges in SQL (one statement), SQLite in Go: both are held to the same steps.
func TestRecordGrant_Merge(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		base := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
		at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
		type want struct {
			scopes         []string
			tokens         time.Time // zero: never
			consent        time.Time // zero: not remembered
			fingerprint    string
			rowExpiry      time.Time // zero: never
			rowExpiryNever bool
		}
		steps := []struct {
			name string
			rec  provider.GrantRecord
			want want
		}{
			{"first approval", provider.GrantRecord{Scopes: []string{"b", "a", "b"}, ExpiresAt: at(2)},
				want{scopes: []string{"b", "a"}, tokens: at(2), rowExpiry: at(2)}},
			{"earlier tokens, new and known scopes", provider.GrantRecord{Scopes: []string{"c", "a", "c"}, ExpiresAt: at(1)},
				want{scopes: []string{"b", "a", "c"}, tokens: at(2), rowExpiry: at(2)}},
			{"remembered for a new fingerprint", provider.GrantRecord{Scopes: []string{"d"}, ExpiresAt: at(1),
				RememberUntil: at(5), ClientFingerprint: "F1"},
				want{scopes: []string{"d"}, tokens: at(2), consent: at(5), fingerprint: "F1", rowExpiry: at(5)}},
			{"not remembered: consent kept, tokens later", provider.GrantRecord{Scopes: []string{"e"}, ExpiresAt: at(7)},
				want{scopes: []string{"d", "e"}, tokens: at(7), consent: at(5), fingerprint: "F1", rowExpiry: at(7)}},
			{"remembered again, same fingerprint", provider.GrantRecord{Scopes: []string{"a", "d"}, ExpiresAt: at(3),
				RememberUntil: at(9), ClientFingerprint: "F1"},
				want{scopes: []string{"d", "e", "a"}, tokens: at(7), consent: at(9), fingerprint: "F1", rowExpiry: at(9)}},
			{"remembered for a changed client", provider.GrantRecord{Scopes: []string{"f", "f"}, ExpiresAt: at(3),
				RememberUntil: at(8), ClientFingerprint: "F2"},
				want{scopes: []string{"f"}, tokens: at(7), consent: at(8), fingerprint: "F2", rowExpiry: at(8)}},
			{"tokens that never expire", provider.GrantRecord{Scopes: nil},
				want{scopes: []string{"f"}, consent: at(8), fingerprint: "F2", rowExpiryNever: true}},
			{"never stays never", provider.GrantRecord{Scopes: []string{"g"}, ExpiresAt: at(20)},
				want{scopes: []string{"f", "g"}, consent: at(8), fingerprint: "F2", rowExpiryNever: true}},
		}
		for i, st := range steps {
			rec := st.rec
			rec.RequestID, rec.Subject, rec.ClientID = fmt.Sprintf("req-%d", i), "carol", client.ID
			rec.Resources, rec.At = []string{"https://mcp.example/b", "https://mcp.example/a"}, base
			if err := s.RecordGrant(c, rec); err != nil {
				t.Fatalf("%s: RecordGrant: %v", st.name, err)
			}
			g, err := s.GetGrant(c, "carol", client.ID, []string{"https://mcp.example/a", "https://mcp.example/b"})
			if err != nil {
				t.Fatalf("%s: GetGrant: %v", st.name, err)
			}
			w := st.want
			if !slices.Equal(g.Scopes, w.scopes) || !g.ExpiresAt.Equal(w.tokens) || !g.ConsentRememberedUntil.Equal(w.consent) ||
				g.ClientFingerprint != w.fingerprint {
				t.Fatalf("%s: scopes %q, tokens %v, consent %v, fingerprint %q; want %q, %v, %v, %q", st.name,
					g.Scopes, g.ExpiresAt, g.ConsentRememberedUntil, g.ClientFingerprint, w.scopes, w.tokens, w.consent, w.fingerprint)
			}
			if !g.FirstGrantedAt.Equal(base) || !slices.Equal(g.Resources, []string{"https://mcp.example/a", "https://mcp.example/b"}) {
				t.Fatalf("%s: first granted %v, resources %q", st.name, g.FirstGrantedAt, g.Resources)
			}
			var expiry []sql.NullTime
			if err := s.DB().WithContext(c).Raw("SELECT expires_at FROM oauth_grants WHERE id = ?", g.ID).Scan(&expiry).Error; err != nil {
				t.Fatal(err)
			}
			switch {
			case len(expiry) != 1:
				t.Fatalf("%s: %d grant rows", st.name, len(expiry))
			case w.rowExpiryNever && expiry[0].Valid:
				t.Fatalf("%s: row expires %v; want never", st.name, expiry[0].Time)
			case !w.rowExpiryNever && (!expiry[0].Valid || !expiry[0].Time.Equal(w.rowExpiry)):
				t.Fatalf("%s: row expires %v; want %v", st.name, expiry[0], w.rowExpiry)
			}
			var linked int64
			if err := s.DB().WithContext(c).Raw("SELECT count(*) FROM oauth_grant_requests WHERE grant_id = ?", g.ID).Scan(&linked).Error; err != nil {
				t.Fatal(err)
			}
			if linked != int64(i+1) {
				t.Fatalf("%s: %d requests linked; want %d", st.name, linked, i+1)
			}
		}
	})
}

// TestRevokeGrants_RacesAnApproval: an approval (IssueCode) concurrent with the revocation
// of its grant leaves its code either revoked or linked to a grant, never an active code
// whose request no grant knows (the grants API could not revoke it). On PostgreSQL the
// revocation's DELETE once waited for the approval's row lock and then rechecked the row
// with its older snapshot: it deleted the grant and the new request's link with it.
func TestRevokeGrants_RacesAnApproval(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		at := time.Now().UTC().Truncate(time.Second)
		approve := func(subject, requestID string) error {
			rec := provider.GrantRecord{RequestID: requestID, Subject: subject, ClientID: client.ID,
				Resources: []string{"https://mcp.example/"}, Scopes: []string{"read"}, At: at, ExpiresAt: at.Add(time.Hour)}
			return s.IssueCode(c, provider.CodeIssue{Signature: "code-" + requestID, Request: newRequest(client, requestID, "c"), Grant: &rec})
		}
		orphans := 0
		for i := range 150 {
			subject := fmt.Sprintf("user-%d", i)
			must(t, approve(subject, fmt.Sprintf("first-%d", i)))
			second := fmt.Sprintf("second-%d", i)
			var errApprove, errRevoke error
			var wg sync.WaitGroup
			wg.Go(func() { _, errRevoke = s.RevokeGrants(c, provider.GrantFilter{Subject: subject}) })
			wg.Go(func() { errApprove = approve(subject, second) })
			wg.Wait()
			must(t, errRevoke)
			must(t, errApprove)
			var active, linked int64
			must(t, s.DB().WithContext(c).Raw("SELECT count(*) FROM oauth_authorization_codes WHERE request_id = ? AND active = ?", second, true).Scan(&active).Error)
			must(t, s.DB().WithContext(c).Raw("SELECT count(*) FROM oauth_grant_requests WHERE request_id = ?", second).Scan(&linked).Error)
			if active > 0 && linked == 0 {
				orphans++
			}
		}
		if orphans > 0 {
			t.Errorf("%d of 150 approvals left an active code whose request no grant knows", orphans)
		}
	})
}

// TestRecordGrant_RefusesScopesTheMergesCannotStoreAlike: a scope with NUL (PostgreSQL's
// JSON functions refuse it: every later approval of the grant would fail) or invalid UTF-8
// (stored as U+FFFD, it never matched itself in SQLite's merge and was added again) is
// refused, by RecordGrant and IssueCode, and the grant takes the next approval.
func TestRecordGrant_RefusesScopesTheMergesCannotStoreAlike(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		at := time.Now().UTC().Truncate(time.Second)
		rec := func(requestID string, scopes ...string) provider.GrantRecord {
			return provider.GrantRecord{RequestID: requestID, Subject: "dave", ClientID: client.ID,
				Resources: []string{"https://mcp.example/"}, Scopes: scopes, At: at, ExpiresAt: at.Add(time.Hour)}
		}
		must(t, s.RecordGrant(c, rec("req-ok", "read")))
		for i, bad := range []string{"nul\x00", "bad\xffutf8"} {
			if err := s.RecordGrant(c, rec(fmt.Sprint("req-bad-", i), bad)); err == nil {
				t.Errorf("RecordGrant with scope %q: no error", bad)
			}
			r := rec(fmt.Sprint("req-bad-code-", i), "read", bad)
			if err := s.IssueCode(c, provider.CodeIssue{Signature: "code-" + r.RequestID, Request: newRequest(client, r.RequestID, "c"), Grant: &r}); err == nil {
				t.Errorf("IssueCode with scope %q: no error", bad)
			}
		}
		must(t, s.RecordGrant(c, rec("req-ok-2", "write")))
		g, err := s.GetGrant(c, "dave", client.ID, []string{"https://mcp.example/"})
		must(t, err)
		if !slices.Equal(g.Scopes, []string{"read", "write"}) {
			t.Errorf("scopes %q; want [read write]", g.Scopes)
		}
	})
}

// A subject or client ID that PostgreSQL's text cannot hold (NUL, invalid UTF-8: an
// Authenticator or subject mapping could return one) finds no grant on either database,
// and RecordGrant refuses it; before, listing or revoking by one failed on PostgreSQL
// alone (found by a security review's sweep).
func TestGrants_UnstorableSubjectOrClientID(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		at := time.Now().UTC().Truncate(time.Second)
		for _, bad := range []string{"a\x00b", "a\xffb"} {
			for _, f := range []provider.GrantFilter{{Subject: bad}, {ClientID: bad}, {Subject: "dave", ID: bad}} {
				if got, next, err := s.ListGrants(c, f, "", 10); err != nil || len(got) != 0 || next != "" {
					t.Errorf("ListGrants(%+v): %v %q %v, want nothing", f, got, next, err)
				}
				if n, err := s.RevokeGrants(c, f); err != nil || n != 0 {
					t.Errorf("RevokeGrants(%+v): %d %v, want 0", f, n, err)
				}
			}
			rec := provider.GrantRecord{RequestID: "req-" + randomString(t, ""), Subject: bad, ClientID: client.ID,
				Resources: []string{"https://mcp.example/"}, Scopes: []string{"read"}, At: at, ExpiresAt: at.Add(time.Hour)}
			if err := s.RecordGrant(c, rec); err == nil {
				t.Errorf("RecordGrant with subject %q: no error", bad)
			}
		}
	})
}

// A grant's recorded expiry never goes down: one request's refresh token (14 days) keeps
// its grant listed, purged no earlier and revocable, when another request of the grant
// issues an access token alone (1 hour). Before, the second use lowered the expiry; an
// hour later Purge deleted the grant with its requests, and RevokeGrants could no longer
// reach the live refresh token (found by a data-lifecycle review).
func TestTouchGrant_NeverLowersTheExpiry(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, randomString(t, "client-"))
		now := time.Now().UTC().Truncate(time.Second)
		res := []string{"https://mcp.example/"}
		rec := func(id string) provider.GrantRecord {
			return provider.GrantRecord{RequestID: id, Subject: "alice", ClientID: cl.ID, Resources: res,
				Scopes: []string{"read"}, At: now, ExpiresAt: now.Add(5 * time.Minute)}
		}
		must(t, s.RecordGrant(c, rec("req-1")))
		must(t, s.CreateRefreshTokenSession(c, "rt-1", "", newRequest(cl, "req-1", "m1")))
		must(t, s.TouchGrant(c, "req-1", now, now.Add(14*24*time.Hour)))
		must(t, s.RecordGrant(c, rec("req-2")))
		must(t, s.TouchGrant(c, "req-2", now, now.Add(time.Hour))) // an access token alone
		g, err := s.GetGrant(c, "alice", cl.ID, res)
		must(t, err)
		if want := now.Add(14 * 24 * time.Hour); !g.ExpiresAt.Equal(want) {
			t.Errorf("grant ExpiresAt = %v; want %v (the refresh token's)", g.ExpiresAt, want)
		}
		if _, err := s.Purge(c, now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RevokeGrants(c, provider.GrantFilter{Subject: "alice"}); err != nil || n != 1 {
			t.Fatalf("RevokeGrants after Purge: %d, %v; want the grant still there", n, err)
		}
		if _, err := s.GetRefreshTokenSession(c, "rt-1", &fosite.DefaultSession{}); err == nil {
			t.Error("the refresh token is still active after Purge and RevokeGrants")
		}
		// Tokens that never expire keep the grant forever; a later finite use does not end that.
		must(t, s.RecordGrant(c, rec("req-3")))
		must(t, s.TouchGrant(c, "req-3", now, time.Time{}))
		must(t, s.TouchGrant(c, "req-3", now, now.Add(time.Hour)))
		if g, err := s.GetGrant(c, "alice", cl.ID, res); err != nil || !g.ExpiresAt.IsZero() {
			t.Errorf("grant of never-expiring tokens after a finite use: %+v, %v; want no expiry", g, err)
		}
	})
}
