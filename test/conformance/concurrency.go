package conformance

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// concurrency redeems one code from many goroutines at once.
func (r *runner) concurrency(ctx context.Context) {
	if r.main == nil {
		return
	}
	g, res := r.getCode(ctx, r.main, nil)
	if g == nil {
		r.skip("CONC-CODE-ONCE", "no code: "+res.summary())
		return
	}
	n := r.t.Concurrency
	results := make([]*exchange, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i] = r.tokenRequest(ctx, g.c, r.redeemForm(g))
		}(i)
	}
	close(start)
	wg.Wait()
	okCount := 0
	statuses := map[string]int{}
	for _, e := range results {
		code, _ := e.oauthError()
		key := strconv.Itoa(e.status)
		if code != "" {
			key += " " + code
		}
		if e.err != nil {
			key = "error"
		}
		statuses[key]++
		if e.status == http.StatusOK {
			okCount++
			if ts := r.noteTokenResponse(e); ts != nil {
				r.track(g.c, ts)
			}
		}
	}
	ev := fmt.Sprintf("%d parallel redemptions of one code: %v", n, statuses)
	r.check("CONC-CODE-ONCE", okCount == 1, fmt.Sprintf("%d token responses instead of exactly 1", okCount), ev)
}
