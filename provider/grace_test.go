package provider_test

import (
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Config.RefreshTokenGrace over HTTP: concurrent refreshes with one refresh token get
// 1+MaxReuses fresh token pairs, the rest invalid_grant, and the grant survives; after the
// window, a reuse revokes the grant (OAuth 2.1 §4.3.1).
func TestConfig_RefreshTokenGrace(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		var offset atomic.Int64
		opts := gormtest.DefaultOptions(t)
		opts.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		e := newEnv(t, db.Open(t, opts), func(_ *env, cfg *provider.Config) {
			cfg.RefreshTokenGrace = provider.RefreshTokenGrace{Period: 30 * time.Second}
		})
		tok := e.tokens(nil)
		const n = 6
		var wg sync.WaitGroup
		results := make([]tokenResponse, n)
		statuses := make([]int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {e.public.ID}}
				resp, err := e.srv.Client().PostForm(e.issuer+"/token", form)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				statuses[i] = resp.StatusCode
				results[i] = decode[tokenResponse](t, resp)
			}()
		}
		wg.Wait()
		var fresh []tokenResponse
		for i := range n {
			switch {
			case statuses[i] == http.StatusOK:
				fresh = append(fresh, results[i])
			case statuses[i] == http.StatusBadRequest && results[i].Error == "invalid_grant":
			default:
				t.Errorf("refresh %d: %d %+v", i, statuses[i], results[i])
			}
		}
		if len(fresh) != 1+provider.DefaultRefreshTokenGraceReuses {
			t.Fatalf("%d refreshes succeeded; want %d", len(fresh), 1+provider.DefaultRefreshTokenGraceReuses)
		}
		for _, f := range fresh {
			if !e.introspect(f.AccessToken).Active {
				t.Errorf("a grace refresh's access token is not active")
			}
		}
		offset.Add(int64(31 * time.Second))
		if resp, r := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Errorf("reuse after the window: %d %+v; want invalid_grant", resp.StatusCode, r)
		}
		for _, f := range fresh {
			if e.introspect(f.AccessToken).Active || e.refreshActive(f.RefreshToken) {
				t.Errorf("tokens survived reuse after the window; want the grant revoked")
			}
		}
	})
}
