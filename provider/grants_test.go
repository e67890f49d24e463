package provider_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// wantRevoked checks that tok's access token is refused by VerifyAccessToken and its
// refresh token by the token endpoint with invalid_grant.
func wantRevoked(t *testing.T, e *env, p *provider.Provider, tok tokenResponse) {
	t.Helper()
	if _, err := p.VerifyAccessToken(e.ctx(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
		t.Errorf("VerifyAccessToken after revocation: %v, want ErrInvalidToken", err)
	}
	resp, rt := e.refresh(tok.RefreshToken, nil)
	if resp.StatusCode != http.StatusBadRequest || rt.Error != "invalid_grant" {
		t.Errorf("refresh after revocation: %d %q, want 400 invalid_grant", resp.StatusCode, rt.Error)
	}
}

// wantLive checks that tok's access token verifies.
func wantLive(t *testing.T, e *env, tok tokenResponse) {
	t.Helper()
	if _, err := e.p.VerifyAccessToken(e.ctx(), tok.AccessToken); err != nil {
		t.Errorf("VerifyAccessToken of an unrevoked grant: %v", err)
	}
}

func grantIDs(page *provider.GrantPage) []string {
	var ids []string
	for _, g := range page.Grants {
		ids = append(ids, g.ID)
	}
	return ids
}

// TestGrants_ListPaginateRevokeOne: one grant per subject × client × resource, listed a
// page at a time without secrets; revoking one kills its access and refresh tokens and
// leaves the other grant alone.
func TestGrants_ListPaginateRevokeOne(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		before := time.Now().Add(-time.Second)
		a1 := e.tokens(nil)
		a2 := e.tokens(url.Values{"scope": {"read write"}}) // same grant, wider scope
		b := e.tokens(url.Values{"resource": {otherRes}})

		page, err := e.p.ListGrants(e.ctx(), testSubject, &provider.ListGrantsOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Grants) != 1 || page.NextCursor == "" {
			t.Fatalf("first page: %d grants, cursor %q", len(page.Grants), page.NextCursor)
		}
		page2, err := e.p.ListGrants(e.ctx(), testSubject, &provider.ListGrantsOptions{Limit: 1, Cursor: page.NextCursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(page2.Grants) != 1 || page2.NextCursor != "" {
			t.Fatalf("second page: %d grants, cursor %q", len(page2.Grants), page2.NextCursor)
		}
		all := append(page.Grants, page2.Grants...)
		var mine provider.Grant
		for _, g := range all {
			if g.ClientID != e.public.ID || g.ClientName != "Public App" || g.Subject != testSubject {
				t.Errorf("grant %+v", g)
			}
			if g.FirstGrantedAt.Before(before) || g.LastUsedAt.Before(g.FirstGrantedAt) {
				t.Errorf("times: first %v last %v", g.FirstGrantedAt, g.LastUsedAt)
			}
			if d := time.Until(g.ExpiresAt); d < 13*24*time.Hour || d > 15*24*time.Hour {
				t.Errorf("ExpiresAt %v: want the refresh token's (14 days)", g.ExpiresAt)
			}
			if slices.Equal(g.Resources, []string{e.resource}) {
				mine = g
			}
		}
		if !slices.Equal(mine.Scopes, []string{"read", "write"}) {
			t.Errorf("grant of %s: scopes %v, want the union [read write]", e.resource, mine.Scopes)
		}
		if _, err := e.p.ListGrants(e.ctx(), testSubject, &provider.ListGrantsOptions{Cursor: "not-a-cursor"}); !errors.Is(err, provider.ErrInvalidGrantCursor) {
			t.Errorf("bad cursor: %v", err)
		}

		// Last used moves on refresh.
		time.Sleep(10 * time.Millisecond)
		resp, b2 := e.refresh(b.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d", resp.StatusCode)
		}
		other, _ := e.p.ListGrants(e.ctx(), testSubject, nil)
		for _, g := range other.Grants {
			if g.ID != mine.ID && !g.LastUsedAt.After(g.FirstGrantedAt) {
				t.Errorf("LastUsedAt %v not moved by the refresh (first %v)", g.LastUsedAt, g.FirstGrantedAt)
			}
		}

		if err := e.p.RevokeGrant(e.ctx(), "someone-else", mine.ID); !errors.Is(err, provider.ErrGrantNotFound) {
			t.Errorf("revoking another subject's grant: %v, want ErrGrantNotFound", err)
		}
		if err := e.p.RevokeGrant(e.ctx(), testSubject, mine.ID); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, e, e.p, a1)
		wantRevoked(t, e, e.p, a2)
		wantLive(t, e, b2)
		left, _ := e.p.ListGrants(e.ctx(), testSubject, nil)
		if ids := grantIDs(left); len(ids) != 1 || ids[0] == mine.ID {
			t.Errorf("after revoking one: %v", ids)
		}
		if err := e.p.RevokeGrant(e.ctx(), testSubject, mine.ID); !errors.Is(err, provider.ErrGrantNotFound) {
			t.Errorf("revoking twice: %v", err)
		}
	})
}

// TestGrants_RevokeUnredeemedCode: a code issued before the revocation is refused at the
// token endpoint (invalid_grant).
func TestGrants_RevokeUnredeemedCode(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50123/callback"
		code, verifier := e.code(redirect, nil)
		if n, err := e.p.RevokeAllGrants(e.ctx(), testSubject); err != nil || n != 1 {
			t.Fatalf("RevokeAllGrants: %d, %v", n, err)
		}
		resp, tok := e.exchange(code, verifier, redirect, nil)
		if resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("exchanging a revoked grant's code: %d %q, want 400 invalid_grant", resp.StatusCode, tok.Error)
		}
	})
}

// TestGrants_RevokeAll: "sign out of every MCP client".
func TestGrants_RevokeAll(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		a := e.tokens(nil)
		b := e.tokens(url.Values{"resource": {otherRes}})
		n, err := e.p.RevokeAllGrants(e.ctx(), testSubject)
		if err != nil || n != 2 {
			t.Fatalf("RevokeAllGrants: %d, %v", n, err)
		}
		wantRevoked(t, e, e.p, a)
		wantRevoked(t, e, e.p, b)
		if page, _ := e.p.ListGrants(e.ctx(), testSubject, nil); len(page.Grants) != 0 {
			t.Errorf("grants left: %v", grantIDs(page))
		}
	})
}

// TestGrants_PerClient: the operator lists and revokes every grant of a client; other
// clients' grants stay.
func TestGrants_PerClient(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		a := e.tokens(nil)
		b := e.tokens(url.Values{"resource": {otherRes}})
		page, err := e.p.ListClientGrants(e.ctx(), e.public.ID, nil)
		if err != nil || len(page.Grants) != 2 {
			t.Fatalf("ListClientGrants: %+v, %v", page, err)
		}
		if page, _ := e.p.ListClientGrants(e.ctx(), e.conf.ID, nil); len(page.Grants) != 0 {
			t.Errorf("grants of an unused client: %v", grantIDs(page))
		}
		n, err := e.p.RevokeClientGrants(e.ctx(), e.public.ID)
		if err != nil || n != 2 {
			t.Fatalf("RevokeClientGrants: %d, %v", n, err)
		}
		wantRevoked(t, e, e.p, a)
		wantRevoked(t, e, e.p, b)
		// The client stays registered and can be authorized again.
		wantLive(t, e, e.tokens(nil))
	})
}

// TestGrants_RevokeOnReplica: a grant revoked through one Provider is refused by another
// sharing the database (a replica): its refresh token at once (nothing of it is cached), its
// access token within the verified-token cache's TTL.
func TestGrants_RevokeOnReplica(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		e := newEnv(t, db.Open(t, opts))
		replicaStore := db.Open(t, opts)
		replica, err := provider.New(provider.Config{
			Issuer: e.issuer, Storage: replicaStore, GlobalSecret: []byte("0123456789abcdef0123456789abcdef-test"),
			Scopes: []string{"read", "write"}, Resources: []string{e.resource, otherRes},
			Authenticator: provider.AuthenticatorFunc(nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(replica.Handler())
		t.Cleanup(srv.Close)

		tok := e.tokens(nil)
		wantLive(t, e, tok)
		if _, err := replica.VerifyAccessToken(e.ctx(), tok.AccessToken); err != nil {
			t.Fatalf("replica refuses a live token: %v", err)
		}
		page, err := replica.ListGrants(e.ctx(), testSubject, nil)
		if err != nil || len(page.Grants) != 1 {
			t.Fatalf("replica ListGrants: %+v %v", page, err)
		}
		if err := replica.RevokeGrant(e.ctx(), testSubject, page.Grants[0].ID); err != nil {
			t.Fatal(err)
		}
		waitRefused(t, e.p, tok.AccessToken, provider.DefaultVerifiedTokenCacheTTL, "the other replica refuses the revoked grant's token")
		wantRevoked(t, e, e.p, tok)
		wantRevoked(t, e, replica, tok)
		resp, err := http.PostForm(srv.URL+"/oauth/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {e.public.ID},
		})
		if err != nil {
			t.Fatal(err)
		}
		wantJSONError(t, resp, http.StatusBadRequest, "invalid_grant")
	})
}

// TestGrants_PurgeBounded: Purge removes grants whose tokens expired and whose consent is
// not remembered, and grant requests without tokens.
func TestGrants_PurgeBounded(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		e.tokens(nil)
		if _, err := e.store.Purge(e.ctx(), time.Now().Add(15*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var grants, requests int64
		e.store.DB().Table("oauth_grants").Count(&grants)
		e.store.DB().Table("oauth_grant_requests").Count(&requests)
		if grants != 0 || requests != 0 {
			t.Errorf("after purging past every expiry: %d grants, %d requests", grants, requests)
		}
	})
}

// TestGrants_DeviceFlow: a grant approved through the device flow (RFC 8628) is listed
// and revoked like one from the code flow.
func TestGrants_DeviceFlow(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		if err := e.p.ApproveDevice(e.ctx(), d.UserCode, testSubject, []string{"read"}); err != nil {
			t.Fatal(err)
		}
		resp, tok := e.poll(deviceClient, d.DeviceCode, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("poll: %d %+v", resp.StatusCode, tok)
		}
		page, err := e.p.ListClientGrants(e.ctx(), deviceClient, nil)
		if err != nil || len(page.Grants) != 1 {
			t.Fatalf("ListClientGrants: %+v %v", page, err)
		}
		g := page.Grants[0]
		if g.Subject != testSubject || g.ClientName != "Terminal App" || !slices.Equal(g.Scopes, []string{"read"}) || !slices.Equal(g.Resources, []string{e.resource}) {
			t.Errorf("device grant %+v", g)
		}
		if err := e.p.RevokeGrant(e.ctx(), testSubject, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.VerifyAccessToken(e.ctx(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
			t.Errorf("device access token after revocation: %v", err)
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {deviceClient}}
		wantJSONError(t, e.postForm(e.issuer+"/token", form, "", ""), http.StatusBadRequest, "invalid_grant")
	})
}

// TestGrants_RevokeApprovedDeviceCode: "sign out everywhere" right after approving a
// device (RFC 8628: a phished user code is approved, then regretted) stops the device
// code: the approval is listed as a grant at once, and once revoked the client's next
// poll gets access_denied, no token. Before, the grant was recorded only at that poll, so
// the revocation found nothing and the poll got tokens (found by a security review).
func TestGrants_RevokeApprovedDeviceCode(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		if err := e.p.ApproveDevice(e.ctx(), d.UserCode, testSubject, []string{"read"}); err != nil {
			t.Fatal(err)
		}
		if page, err := e.p.ListGrants(e.ctx(), testSubject, nil); err != nil || len(page.Grants) != 1 || page.Grants[0].ClientID != deviceClient {
			t.Fatalf("grants after the approval: %+v, %v", page, err)
		}
		if n, err := e.p.RevokeAllGrants(e.ctx(), testSubject); err != nil || n != 1 {
			t.Fatalf("RevokeAllGrants: %d, %v", n, err)
		}
		resp, tok := e.poll(deviceClient, d.DeviceCode, nil)
		if resp.StatusCode != http.StatusBadRequest || tok.Error != "access_denied" || tok.AccessToken != "" {
			t.Errorf("poll after the grant was revoked: %d %+v, want 400 access_denied", resp.StatusCode, tok)
		}
		if page, _ := e.p.ListGrants(e.ctx(), testSubject, nil); len(page.Grants) != 0 {
			t.Errorf("grants after the revocation and a poll: %v", grantIDs(page))
		}
	})
}

// TestGrants_RevokeApprovedDeviceCodeAfterPurge: a Purge between the approval and the
// revocation keeps the approval's link to its grant (its device code is alive, though no
// token exists yet), so the revocation still stops the code. Before, Purge dropped the
// tokenless request and the revocation found no device code: a client could wait for a
// purge before polling (found by a review).
func TestGrants_RevokeApprovedDeviceCodeAfterPurge(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		if err := e.p.ApproveDevice(e.ctx(), d.UserCode, testSubject, []string{"read"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Purge(e.ctx(), time.Now().Add(time.Minute)); err != nil { // before the device code expires
			t.Fatal(err)
		}
		if n, err := e.p.RevokeAllGrants(e.ctx(), testSubject); err != nil || n != 1 {
			t.Fatalf("RevokeAllGrants: %d, %v", n, err)
		}
		if resp, tok := e.poll(deviceClient, d.DeviceCode, nil); resp.StatusCode != http.StatusBadRequest || tok.AccessToken != "" {
			t.Errorf("poll after Purge and the revocation: %d %+v, want 400", resp.StatusCode, tok)
		}
	})
}

// TestGrants_ConcurrentDeviceApprovals: of two users approving one user code at once,
// the one whose approval wins owns the grant and its tokens; the loser gets no grant.
// Before, each recorded the grant before the conditional decision, so the loser could own
// the winner's request: revoking the winner's grants left its tokens alive, revoking the
// loser's ended them (found by a review). Thirty rounds with real concurrency.
func TestGrants_ConcurrentDeviceApprovals(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		for round := range 30 {
			users := []string{fmt.Sprint("alice-", round), fmt.Sprint("bob-", round)}
			d := e.startDevice(deviceClient, nil)
			var wg sync.WaitGroup
			won := make([]bool, 2)
			for i, u := range users {
				wg.Go(func() { won[i] = e.p.ApproveDevice(e.ctx(), d.UserCode, u, []string{"read"}) == nil })
			}
			wg.Wait()
			if won[0] == won[1] {
				t.Fatalf("round %d: approvals won %v, want exactly one", round, won)
			}
			winner, loser := users[0], users[1]
			if won[1] {
				winner, loser = loser, winner
			}
			resp, tok := e.poll(deviceClient, d.DeviceCode, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("round %d: poll %d %+v", round, resp.StatusCode, tok)
			}
			if page, err := e.p.ListGrants(e.ctx(), loser, nil); err != nil || len(page.Grants) != 0 {
				t.Errorf("round %d: the losing approver has grants %v (%v)", round, grantIDs(page), err)
			}
			if n, err := e.p.RevokeAllGrants(e.ctx(), winner); err != nil || n != 1 {
				t.Fatalf("round %d: RevokeAllGrants(winner): %d, %v", round, n, err)
			}
			if _, err := e.p.VerifyAccessToken(e.ctx(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
				t.Errorf("round %d: the winner's token after revoking the winner's grants: %v", round, err)
			}
		}
	})
}

// TestGrants_RevokeApprovedDeviceCodeDuringPoll: a revocation racing the poll that redeems
// an approved device code leaves no live token, whichever wins: the poll is refused, or its
// tokens are revoked. Twenty rounds with real concurrency.
func TestGrants_RevokeApprovedDeviceCodeDuringPoll(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		won := map[bool]int{}
		for range 20 {
			d := e.startDevice(deviceClient, nil)
			if err := e.p.ApproveDevice(e.ctx(), d.UserCode, testSubject, []string{"read"}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var resp *http.Response
			var tok tokenResponse
			wg.Go(func() { resp, tok = e.poll(deviceClient, d.DeviceCode, nil) })
			wg.Go(func() {
				if _, err := e.p.RevokeAllGrants(e.ctx(), testSubject); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
			won[resp.StatusCode == http.StatusOK]++
			if resp.StatusCode != http.StatusOK {
				// access_denied when the revocation came before the poll read the code;
				// invalid_grant when it came between that read and the redemption.
				if tok.Error != "access_denied" && tok.Error != "invalid_grant" {
					t.Errorf("poll lost the race: %d %+v, want access_denied or invalid_grant", resp.StatusCode, tok)
				}
				continue
			}
			if _, err := e.p.VerifyAccessToken(e.ctx(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
				t.Errorf("access token of a poll that beat the revocation: %v, want ErrInvalidToken", err)
			}
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {deviceClient}}
			wantJSONError(t, e.postForm(e.issuer+"/token", form, "", ""), http.StatusBadRequest, "invalid_grant")
		}
		t.Logf("the poll won %d of 20 rounds", won[true])
	})
}

// TestGrants_RevokeDuringRefreshes: tokens minted by refreshes running while the grant
// is revoked do not survive the revocation, and no refresh begun after RevokeGrant returned
// succeeds. The revocation starts once the chain is refreshing (not after a fixed pause: on a
// loaded machine the chain could otherwise run to its end first), and the chain runs until
// a refresh fails, so that what is pinned is the order of events, not their speed.
func TestGrants_RevokeDuringRefreshes(t *testing.T) {
	const maxRefreshes = 5000 // a revocation that never reaches the chain fails the test
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		page, err := e.p.ListGrants(e.ctx(), testSubject, nil)
		if err != nil || len(page.Grants) != 1 {
			t.Fatalf("ListGrants: %+v %v", page, err)
		}
		var revoked atomic.Bool // RevokeGrant has returned
		refreshing := make(chan struct{})
		type outcome struct {
			access []string
			late   int // refreshes begun after RevokeGrant returned that succeeded
		}
		issued := make(chan outcome, 1)
		go func() {
			var out outcome
			rt := tok.RefreshToken
			for i := 0; i < maxRefreshes; i++ {
				after := revoked.Load()
				resp, err := e.http.PostForm(e.issuer+"/token", url.Values{
					"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.public.ID},
				})
				if err != nil {
					break
				}
				var next tokenResponse
				err = json.NewDecoder(resp.Body).Decode(&next)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					break
				}
				if after {
					out.late++
				}
				out.access, rt = append(out.access, next.AccessToken), next.RefreshToken
				if len(out.access) == 3 {
					close(refreshing)
				}
			}
			issued <- out
		}()
		select {
		case <-refreshing:
		case out := <-issued:
			t.Fatalf("the chain stopped after %d refreshes before the revocation", len(out.access))
		}
		if err := e.p.RevokeGrant(e.ctx(), testSubject, page.Grants[0].ID); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		out := <-issued
		if out.late > 0 || len(out.access) == maxRefreshes {
			t.Fatalf("%d refreshes begun after RevokeGrant returned succeeded (%d in all); want none", out.late, len(out.access))
		}
		for _, at := range append(out.access, tok.AccessToken) {
			if _, err := e.p.VerifyAccessToken(e.ctx(), at); !errors.Is(err, provider.ErrInvalidToken) {
				t.Errorf("an access token minted around the revocation still verifies: %v", err)
			}
		}
		t.Logf("%d refreshes before the revocation stopped the chain", len(out.access))
	})
}
