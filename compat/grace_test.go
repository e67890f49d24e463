package compat_test

import (
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// RefreshGrace, several processes of one MCP host sharing a refresh token (Claude Code
// windows, mcp-remote instances): n refresh requests with the same token at once, each the
// TypeScript SDK's refreshAuthorization (grant_type, refresh_token, client_id, resource).
//
// On: exactly 1+MaxReuses succeed, each with working tokens of its own, the rest get
// invalid_grant and nothing is revoked; after the window, one more use of the token
// revokes the whole grant (every chain's tokens). Off (strict rotation, OAuth 2.1
// §4.3.1): at most one succeeds, and the reuse revokes the grant.
func TestRefreshGrace_ConcurrentRefresh(t *testing.T) {
	const n = 8
	for _, m := range []struct {
		name string
		opts compat.Options
		on   bool
	}{{"shim_on", compat.Default(), true}, {"shim_off", withOff(func(o *compat.Options) { o.RefreshGrace = compat.RefreshGrace{} }), false}} {
		t.Run(m.name, func(t *testing.T) {
			gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
				var offset atomic.Int64
				sopts := gormtest.DefaultOptions(t)
				sopts.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
				s := newStack(t, db.Open(t, sopts), m.opts)
				reg := s.mustRegister(testdata(t, "inspector.register.json"))
				redirect := "http://localhost:6274/oauth/callback"
				first := s.login(reg.ClientID, redirect, url.Values{"scope": {scopeRead}, "resource": {s.MCPURL}}, url.Values{"resource": {s.MCPURL}})

				results := make([]tokenResponse, n)
				statuses := make([]int, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						statuses[i], results[i] = s.tokenNoFatal(url.Values{"grant_type": {"refresh_token"},
							"refresh_token": {first.RefreshToken}, "client_id": {reg.ClientID}, "resource": {s.MCPURL}})
					}()
				}
				close(start)
				wg.Wait()
				var fresh []tokenResponse
				for i := range n {
					switch {
					case statuses[i] == http.StatusOK:
						fresh = append(fresh, results[i])
					case statuses[i] == http.StatusBadRequest && (results[i].Error == "invalid_grant" || !m.on && results[i].Error == "invalid_request"):
					default:
						t.Errorf("refresh %d: %d %+v", i, statuses[i], results[i])
					}
				}
				if !m.on {
					if len(fresh) > 1 {
						t.Fatalf("strict rotation: %d concurrent refreshes succeeded", len(fresh))
					}
					// Any reuse now revokes the grant, the winner's tokens included.
					if status, tr := s.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
						"client_id": {reg.ClientID}, "resource": {s.MCPURL}}); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
						t.Errorf("reuse: %d %+v; want invalid_grant", status, tr)
					}
					for _, f := range fresh {
						if status, _ := s.call(f.AccessToken); status != http.StatusUnauthorized {
							t.Errorf("winner's access token after reuse: %d; want 401 (grant revoked)", status)
						}
					}
					return
				}
				want := 1 + compat.DefaultRefreshGraceMaxReuses
				if len(fresh) != want {
					t.Fatalf("%d of %d concurrent refreshes succeeded; want %d", len(fresh), n, want)
				}
				for i, f := range fresh {
					if status, who := s.call(f.AccessToken); status != http.StatusOK || !equalStrings(who.Audience, s.MCPURL) {
						t.Errorf("chain %d: call %d %+v", i, status, who)
					}
				}
				// Each chain rotates on its own.
				next := s.mustToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh[0].RefreshToken},
					"client_id": {reg.ClientID}, "resource": {s.MCPURL}})
				if status, _ := s.call(fresh[1].AccessToken); status != http.StatusOK {
					t.Errorf("another chain's access token after a rotation: %d", status)
				}

				offset.Add(int64(compat.DefaultRefreshGraceWindow + time.Second))
				if status, tr := s.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken},
					"client_id": {reg.ClientID}, "resource": {s.MCPURL}}); status != http.StatusBadRequest || tr.Error != "invalid_grant" {
					t.Errorf("reuse after the window: %d %+v; want invalid_grant", status, tr)
				}
				for i, tok := range append(fresh, next) {
					if status, _ := s.call(tok.AccessToken); status != http.StatusUnauthorized {
						t.Errorf("token %d after reuse outside the window: %d; want 401 (grant revoked)", i, status)
					}
					if tok.RefreshToken == "" {
						continue
					}
					if status, _ := s.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
						"client_id": {reg.ClientID}, "resource": {s.MCPURL}}); status == http.StatusOK {
						t.Errorf("refresh token %d still works after the grant was revoked", i)
					}
				}
			})
		})
	}
}
