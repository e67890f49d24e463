package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// race posts form to path n times at once over HTTP and returns the status codes, the
// bodies of the 200 responses and the error codes of the others.
func (e *env) race(n int, path string, form url.Values) (codes []int, ok []tokenResponse, errs []string) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
	)
	codes = make([]int, n)
	body := form.Encode()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := e.http.Do(req)
			if err != nil {
				codes[i] = -1
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			var tr tokenResponse
			err = json.NewDecoder(resp.Body).Decode(&tr)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && resp.StatusCode == http.StatusOK:
				ok = append(ok, tr)
			case resp.StatusCode != http.StatusOK:
				errs = append(errs, tr.Error)
			}
		}()
	}
	close(start)
	wg.Wait()
	return codes, ok, errs
}

func count(codes []int, status int) int {
	n := 0
	for _, c := range codes {
		if c == status {
			n++
		}
	}
	return n
}

// TestRFC6749_10_5_ConcurrentCodeRedemption: an authorization code is single use even
// when 20 requests race to redeem it over HTTP: exactly one 200, the others 400 (never
// a 500), and a replay afterwards revokes the tokens that were issued.
func TestRFC6749_10_5_ConcurrentCodeRedemption(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:41000/callback"
		code, verifier := e.code(redirect, nil)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {redirect}, "client_id": {e.public.ID}}
		codes, won, errs := e.race(20, "/token", form)
		if count(codes, http.StatusOK) != 1 || count(codes, http.StatusBadRequest) != 19 || len(won) != 1 {
			t.Fatalf("statuses %v: want exactly one 200 and 19 × 400", codes)
		}
		allInvalidGrant(t, errs)
		resp, tr := e.exchange(code, verifier, redirect, nil)
		if resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Fatalf("replay: %d %+v", resp.StatusCode, tr)
		}
		if _, err := e.p.VerifyAccessToken(context.Background(), won[0].AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
			t.Fatalf("access token issued from a replayed code still valid: %v", err)
		}
		if e.refreshActive(won[0].RefreshToken) {
			t.Fatal("refresh token issued from a replayed code still active")
		}
	})
}

// TestRFC6819_5_2_2_3_ConcurrentRefresh: 20 concurrent refreshes of one refresh token
// (strict rotation): exactly one 200, the others 400.
func TestRFC6819_5_2_2_3_ConcurrentRefresh(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {e.public.ID}}
		codes, won, errs := e.race(20, "/token", form)
		if count(codes, http.StatusOK) != 1 || count(codes, http.StatusBadRequest) != 19 || len(won) != 1 {
			t.Fatalf("statuses %v: want exactly one 200 and 19 × 400", codes)
		}
		// The losers' grant is spent: invalid_grant (RFC 6749 §5.2), not fosite's
		// "invalid_request, please retry", which a client would retry in vain.
		allInvalidGrant(t, errs)
	})
}

// allInvalidGrant fails unless every error code is invalid_grant.
func allInvalidGrant(t *testing.T, errs []string) {
	t.Helper()
	for _, code := range errs {
		if code != "invalid_grant" {
			t.Fatalf("losers' errors %v: want invalid_grant only", errs)
		}
	}
}
