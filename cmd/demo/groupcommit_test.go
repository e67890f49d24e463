package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
)

func TestServeFlags_GroupCommit(t *testing.T) {
	f, err := parseServeFlags(nil, io.Discard)
	if err != nil || f.groupCommit {
		t.Errorf("default: -group-commit %v (%v), want off", f.groupCommit, err)
	}
	f, err = parseServeFlags([]string{"-group-commit"}, io.Discard)
	if err != nil || !f.groupCommit {
		t.Errorf("-group-commit: %v (%v), want on", f.groupCommit, err)
	}
}

// OAuth 2.1 §4.3.1 with -group-commit (SQLite): eight concurrent refreshes with one refresh
// token, over HTTP, get at most the grace window's first use and two reuses (mcp.New's
// compat.RefreshGrace), never a 5xx; every token issued works for the next rotation.
func TestDemo_GroupCommit_ConcurrentRefreshesOneToken(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	demo.cfg.GroupCommit = true
	demo.restart()
	c := demo.register(t, "Group Commit App", "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "st-gc", "demo:tools"))
	f.login("alice", "wonderland")
	tok := demo.exchange(t, c, f.decide("approve").Query().Get("code"))

	refresh := func(rt string) (int, string) {
		resp, err := http.PostForm(demo.url+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}})
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.RefreshToken
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh []string
	)
	for range 8 {
		wg.Go(func() {
			code, rt := refresh(tok["refresh_token"].(string))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == http.StatusOK && rt != "":
				fresh = append(fresh, rt)
			case code >= 500:
				t.Errorf("concurrent refresh: %d; want 200 or 400", code)
			}
		})
	}
	wg.Wait()
	if len(fresh) < 1 || len(fresh) > 3 {
		t.Fatalf("%d of 8 concurrent refreshes succeeded; want 1 to 3 (the first use and at most 2 reuses)", len(fresh))
	}
	for _, rt := range fresh {
		if code, next := refresh(rt); code != http.StatusOK || next == "" {
			t.Errorf("refresh with an issued token: %d", code)
		}
	}
}
