package faults_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/pgcluster"
)

// TestIssue14_PostgresOutageUnderLoad is the operator's report: three replicas on one
// PostgreSQL behind a round-robin proxy, the database stopped in the middle of a load run
// (registrations, authorizations, code exchanges, refreshes, revocations,
// introspections and MCP calls from several goroutines, each step on another replica)
// and restarted. During the outage every answer is a success or a 503
// temporarily_unavailable with Retry-After — no invalid_client, invalid_grant or
// invalid_token, no 500, no dropped connection; /readyz says 503 on every replica. After
// the restart the same replicas serve a second load run without a single failure, and
// every grant made before the outage (and every worker's latest tokens) still works.
func TestIssue14_PostgresOutageUnderLoad(t *testing.T) {
	cluster := pgcluster.Start(t)
	db := gormtest.Database{Backend: gormtest.Postgres, DSN: cluster.DSN}
	var replicas []*replica

	for range 3 {
		s := db.Open(t, storeOptions())

		replicas = append(replicas, newReplica(t, s, nil))
	}
	at := func(i int) string { return replicas[i%len(replicas)].Base }
	c := newClient(resourceURL)

	// Grants made before the outage and left alone during it, and a static confidential
	// client allowed to introspect.
	var idle []grant
	for i := range 3 {
		idle = append(idle, c.login(t, at(i), at(i+1), at(i+2)))
	}
	_, secret, err := replicas[0].Auth.Provider().CreateClient(context.Background(), provider.ClientSpec{
		ID: "introspector", Name: "introspector", RedirectURIs: []string{"https://rs.example.test/cb"}})
	if err != nil {
		t.Fatal(err)
	}

	// run drives the load until stop closes: each worker owns a grant, and in every round
	// calls the MCP endpoint, refreshes, introspects, and runs a whole new login (register,
	// authorize, exchange, revoke), every step on the next replica.
	const workers = 4
	type result struct {
		replies []reply
		grant   grant
	}
	var seenOK, seen503 atomic.Int64 // replies so far, for the test to pace itself
	run := func(start []grant, stop <-chan struct{}) []result {
		results := make([]result, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := start[w]
				var out []reply
				add := func(r reply) reply {
					out = append(out, r)
					if r.ok() {
						seenOK.Add(1)
					} else if r.unavailable() {
						seen503.Add(1)
					}
					return r
				}
				for i := w; ; i++ {
					select {
					case <-stop:
						results[w] = result{out, g}
						return
					default:
					}
					add(c.call(at(i)+"/mcp", g.AccessToken))
					if r := add(c.refresh(at(i+1), g.ClientID, g.RefreshToken)); r.ok() {
						g.AccessToken, g.RefreshToken = r.AccessToken, r.RefreshToken
					}
					add(c.introspect(at(i+2), "introspector", secret, g.AccessToken))
					reg := add(c.register(at(i)))
					if !reg.ok() {
						continue
					}
					a, verifier := c.authorize(at(i+1), reg.ClientID)
					if !add(a).ok() {
						continue
					}
					if x := add(c.exchange(at(i+2), reg.ClientID, a, verifier)); x.ok() {
						add(c.revoke(at(i+3), reg.ClientID, x.RefreshToken))
					}
				}
			}()
		}
		wg.Wait()
		return results
	}
	var start []grant
	for i := range workers {
		start = append(start, c.login(t, at(i), at(i+1), at(i+2)))
	}

	// Load, stop the database once the load runs, load on for a second (and until the
	// outage has been seen), restart, wait until ready.
	stop := make(chan struct{})
	var during []result
	done := make(chan struct{})
	go func() { during = run(start, stop); close(done) }()
	waitFor(t, "20 successes before the outage", func() bool { return seenOK.Load() >= 20 })
	cluster.Stop(t)
	outageStart := time.Now()
	time.Sleep(time.Second)
	waitFor(t, "20 answers to the outage", func() bool { return seen503.Load() >= 20 })
	for i, r := range replicas {
		if got := c.do("readyz", mustRequest(t, r.Base+"/readyz")); got.Status != http.StatusServiceUnavailable || got.RetryAfter == "" {
			t.Errorf("replica %d /readyz during the outage: %v; want 503 with Retry-After", i, got)
		}
	}
	cluster.Start(t)
	waitReady(t, c, replicas)
	close(stop)
	<-done
	t.Logf("outage of %s", time.Since(outageStart).Round(time.Millisecond))

	var unavailable, ok, total int
	latest := make([]grant, workers)
	for w, res := range during {
		latest[w] = res.grant
		for _, r := range res.replies {
			total++
			checkOutageReply(t, r)
			if r.unavailable() {
				unavailable++
			} else if r.ok() {
				ok++
			}
		}
	}
	t.Logf("during the run with the outage: %d replies, %d successes, %d 503s", total, ok, unavailable)
	if unavailable == 0 || ok == 0 {
		t.Fatalf("the run saw %d successes and %d 503s: the outage was not exercised", ok, unavailable)
	}

	// After the restart: a whole load run without a failure, on the same replicas.
	stop = make(chan struct{})
	var failures atomic.Int64
	time.AfterFunc(time.Second, func() { close(stop) })
	var after int
	for _, res := range run(latest, stop) {
		for _, r := range res.replies {
			after++
			if !r.ok() {
				failures.Add(1)
				t.Errorf("after the restart: %v", r)
			}
		}
	}
	t.Logf("after the restart: %d replies, %d failures", after, failures.Load())

	// Every grant from before the outage still refreshes, on every replica in turn, and
	// its new access token works.
	for i, g := range append(idle, latest...) {
		r := c.refresh(at(i), g.ClientID, g.RefreshToken)
		if !r.ok() {
			t.Errorf("grant %d from before the outage: %v", i, r)
			continue
		}
		if got := c.call(at(i+1)+"/mcp", r.AccessToken); got.Status != http.StatusOK {
			t.Errorf("grant %d: MCP call with the refreshed token: %v", i, got)
		}
	}
}

// waitFor polls cond until it holds (at most 30 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// waitReady polls every replica's /readyz until it answers 200 (at most 30 s).
func waitReady(t *testing.T, c *client, replicas []*replica) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i, r := range replicas {
		for {
			got := c.do("readyz", mustRequest(t, r.Base+"/readyz"))
			if got.Status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d not ready 30 s after the restart: %v", i, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
