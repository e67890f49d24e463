package jwtaccess_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestConcurrentIssueAndVerify: tokens issued in parallel (shared signer) are all distinct
// and verify, locally and through the provider, while the keys are refreshed concurrently.
func TestConcurrentIssueAndVerify(t *testing.T) {
	const workers, perWorker = 6, 5
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		ctx := context.Background()
		var (
			mu     sync.Mutex
			seen   = map[string]bool{}
			wg     sync.WaitGroup
			errs   = make(chan error, workers*perWorker*3)
			client = &http.Client{}
		)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(url.Values{
						"grant_type": {"client_credentials"}, "resource": {e.resource}}.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(e.rs.ID, e.rsSecret)
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					var tok tokenResponse
					err = json.NewDecoder(resp.Body).Decode(&tok)
					resp.Body.Close()
					if err != nil || tok.AccessToken == "" {
						errs <- fmt.Errorf("token response %d %+v: %v", resp.StatusCode, tok, err)
						continue
					}
					if _, err := e.verifier.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
						errs <- err
					}
					if _, err := e.p.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
						errs <- err
					}
					mu.Lock()
					seen[tok.AccessToken] = true
					mu.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := e.keys.Refresh(ctx); err != nil {
					errs <- err
				}
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%v", err)
		}
		if len(seen) != workers*perWorker {
			t.Fatalf("%d distinct tokens, want %d", len(seen), workers*perWorker)
		}
	})
}
