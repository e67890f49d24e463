package conformance

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// DefaultRateLimitWait is how long the suite waits, at most, for one request that the
// server answered with 429 Too Many Requests before it retries (Target.RateLimitWait).
const DefaultRateLimitWait = 90 * time.Second

// retryOn429 resends a request the server refused with 429 Too Many Requests once its
// Retry-After (in seconds) has passed, as long as that is within maxWait: a deployment
// with per-address rate limits (mcp.New has them by default) can then be checked from one
// address, only more slowly. Requests whose body cannot be replayed are not retried.
type retryOn429 struct {
	next    http.RoundTripper
	maxWait time.Duration
}

func (t retryOn429) RoundTrip(req *http.Request) (*http.Response, error) {
	for {
		resp, err := t.next.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests {
			return resp, err
		}
		secs, perr := strconv.Atoi(resp.Header.Get("Retry-After"))
		wait := time.Duration(secs) * time.Second
		if perr != nil || secs < 0 || wait > t.maxWait || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err := sleepCtx(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
