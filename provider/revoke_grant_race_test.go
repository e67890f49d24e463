package provider_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestGrants_RevokeGrantRacingRefreshChains pins the promise of Provider.RevokeGrant under
// load (RFC 7009 §2.1 for the grant's refresh and access tokens): once RevokeGrant has
// returned, no refresh of the grant succeeds, and no token minted by a refresh that was in
// flight during the revocation works. Several token chains of one grant (one per code
// exchange) are refreshed as fast as the clients can while the grant is revoked, several
// rounds in a row on each database, so that the revocation meets rotations in every phase:
// the presented token's row locked, the new tokens inserted but not committed, committed.
func TestGrants_RevokeGrantRacingRefreshChains(t *testing.T) {
	const (
		rounds       = 4
		chains       = 3
		before       = 6    // successful refreshes (over all chains) before the revocation
		maxRefreshes = 5000 // per chain: a revocation that never reaches a chain fails the test
	)
	runEnv(t, func(t *testing.T, e *env) {
		for round := range rounds {
			heads := make([]tokenResponse, chains)
			for i := range heads {
				heads[i] = e.tokens(nil)
			}
			page, err := e.p.ListGrants(e.ctx(), testSubject, nil)
			if err != nil || len(page.Grants) != 1 {
				t.Fatalf("round %d: ListGrants: %+v %v; want the one grant of %d code exchanges", round, page, err, chains)
			}
			var (
				revoked   atomic.Bool // RevokeGrant has returned
				succeeded atomic.Int64
				started   = make(chan struct{})
				once      sync.Once
				wg        sync.WaitGroup
				mu        sync.Mutex
				minted    []tokenResponse // every pair a refresh returned
				late      []string        // refreshes begun after RevokeGrant returned that succeeded
				endless   atomic.Int64    // chains the revocation never stopped
			)
			for _, head := range heads {
				wg.Add(1)
				go func(rt string) {
					defer wg.Done()
					for range maxRefreshes {
						after := revoked.Load()
						resp, err := e.http.PostForm(e.issuer+"/token", url.Values{
							"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.public.ID},
						})
						if err != nil {
							t.Error(err)
							return
						}
						var next tokenResponse
						err = json.NewDecoder(resp.Body).Decode(&next)
						resp.Body.Close()
						if err != nil || resp.StatusCode != http.StatusOK {
							if resp.StatusCode != http.StatusBadRequest || next.Error != "invalid_grant" {
								t.Errorf("refresh racing RevokeGrant: %d %+v %v; want 200 or invalid_grant", resp.StatusCode, next, err)
							}
							return
						}
						mu.Lock()
						minted = append(minted, next)
						if after {
							late = append(late, next.RefreshToken)
						}
						mu.Unlock()
						if succeeded.Add(1) >= before {
							once.Do(func() { close(started) })
						}
						rt = next.RefreshToken
					}
					endless.Add(1)
				}(head.RefreshToken)
			}
			<-started
			if err := e.p.RevokeGrant(e.ctx(), testSubject, page.Grants[0].ID); err != nil {
				t.Fatalf("round %d: RevokeGrant: %v", round, err)
			}
			revoked.Store(true)
			wg.Wait()
			if len(late) > 0 || endless.Load() > 0 {
				t.Fatalf("round %d: %d refreshes begun after RevokeGrant returned succeeded (%d chains never stopped); want none",
					round, len(late), endless.Load())
			}
			for _, tok := range append(minted, heads...) {
				if _, err := e.p.VerifyAccessToken(e.ctx(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
					t.Fatalf("round %d: an access token minted around the revocation still verifies: %v", round, err)
				}
			}
			for _, tok := range minted[max(0, len(minted)-chains):] {
				wantRevoked(t, e, e.p, tok)
			}
			t.Logf("round %d: %d refreshes succeeded around the revocation", round, len(minted))
		}
	})
}
