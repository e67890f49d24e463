// Package ratelimit limits how often each client may call an HTTP endpoint: a token
// bucket per client IP address, kept in a map of bounded size.
//
// Each Limiter is one endpoint's limit. A client's bucket holds up to Limit.Burst
// requests and refills continuously at Limit.Requests per Limit.Per; a request finding
// it empty is refused with HTTP 429 and a Retry-After header. Buckets are kept for at
// most Options.MaxKeys clients: a bucket that has refilled is forgotten (a full bucket
// and no bucket are the same thing), and when the map is full the least recently used
// bucket gives way, so that a client spraying source addresses cannot grow memory
// without bound. The price of the bound is that, under such a spray, a client's
// half-empty bucket may be forgotten early; the attacker gains one burst per address it
// controls, which it had anyway.
//
// The client is identified by its IP address (ClientIP): the connection's
// (Request.RemoteAddr) unless trusted proxies are configured. IPv6 clients are
// identified by their /64 network, which a single host usually holds in full.
package ratelimit

import (
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Limit is a token bucket: Burst requests at once, refilled at Requests per Per.
type Limit struct {
	// Requests is how many requests a client may make per Per, on average. Negative
	// means no limit (Unlimited); zero is invalid.
	Requests int
	// Per is the period Requests are counted over. Default one minute.
	Per time.Duration
	// Burst is how many requests a client may make at once, the bucket's size. Default
	// Requests.
	Burst int
}

// Unlimited returns a Limit that allows every request.
func Unlimited() Limit { return Limit{Requests: -1} }

// PerMinute returns a Limit of n requests a minute with bursts of burst.
func PerMinute(n, burst int) Limit { return Limit{Requests: n, Per: time.Minute, Burst: burst} }

// IsUnlimited reports whether l allows every request.
func (l Limit) IsUnlimited() bool { return l.Requests < 0 }

// withDefaults fills Per and Burst.
func (l Limit) withDefaults() (Limit, error) {
	if l.IsUnlimited() {
		return l, nil
	}
	if l.Requests == 0 {
		return l, errors.New("ratelimit: Limit.Requests must be positive (or negative for no limit)")
	}
	if l.Per < 0 || l.Burst < 0 {
		return l, errors.New("ratelimit: Limit.Per and Limit.Burst must not be negative")
	}
	if l.Per == 0 {
		l.Per = time.Minute
	}
	if l.Burst == 0 {
		l.Burst = l.Requests
	}
	return l, nil
}

// String describes l, e.g. "60/1m0s burst 20".
func (l Limit) String() string {
	if l.IsUnlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%d/%s burst %d", l.Requests, l.Per, l.Burst)
}

// DefaultMaxKeys is how many clients a Limiter tracks by default. A bucket takes
// about 200 bytes, so the default bounds a Limiter to a few megabytes.
const DefaultMaxKeys = 10000

// Options configure New.
type Options struct {
	// Name names the endpoint in logs, e.g. "token".
	Name string
	// MaxKeys bounds how many clients are tracked at once (see the package
	// documentation). Default DefaultMaxKeys.
	MaxKeys int
	// ClientIP says how the client's address is found. The zero value uses the
	// connection's address, which cannot be spoofed; behind a reverse proxy every
	// client then shares the proxy's bucket, so configure the proxy there.
	ClientIP ClientIP
	// Key, when set, replaces ClientIP: requests with the same key share a bucket.
	Key func(*http.Request) string
	// Reject writes the answer to a refused request. Default PlainError.
	Reject RejectFunc
	// Logger receives one line per refused client and period at most (its key, which
	// is an IP address, and the endpoint's name). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now; tests set it.
	Now func() time.Time
	// Observer, when set, is told of every refused request (observe.RateLimited, with
	// Endpoint set to Endpoint and ClientIP to the key). Default nil: none.
	Observer observe.Observer
	// Endpoint is the route name of observe events (an observe.Endpoint… constant).
	// Default Name.
	Endpoint string
}

// RejectFunc answers a refused request; retryAfter is how long until the client's next
// request would be allowed.
type RejectFunc func(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)

// Limiter holds the buckets of one endpoint's clients. It is safe for concurrent use.
type Limiter struct {
	limit    Limit
	interval time.Duration // between two requests at the sustained rate
	window   time.Duration // Burst intervals: how far ahead a bucket may be spent
	maxKeys  int
	name     string
	key      func(*http.Request) string
	reject   RejectFunc
	log      *slog.Logger
	now      func() time.Time
	obs      observe.Observer
	endpoint string

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
}

// bucket is one client's token bucket, kept as the time at which it will be full again
// (the generic cell rate algorithm): each request moves that time one interval on, and a
// request is refused when that would put it more than Burst intervals ahead of now.
type bucket struct {
	key    string
	full   time.Time // when the bucket is full again; in the past: full now
	logged time.Time // when the last refusal was logged
}

// New returns a Limiter allowing each client limit.
func New(limit Limit, opts Options) (*Limiter, error) {
	limit, err := limit.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.MaxKeys < 0 {
		return nil, errors.New("ratelimit: MaxKeys must not be negative")
	}
	if opts.MaxKeys == 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Key == nil {
		if err := opts.ClientIP.validate(); err != nil {
			return nil, err
		}
		opts.Key = opts.ClientIP.Key
	}
	if opts.Reject == nil {
		opts.Reject = PlainError
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Limiter{
		limit:    limit,
		maxKeys:  opts.MaxKeys,
		name:     opts.Name,
		key:      opts.Key,
		reject:   opts.Reject,
		log:      opts.Logger,
		now:      opts.Now,
		buckets:  make(map[string]*list.Element),
		obs:      opts.Observer,
		endpoint: opts.Endpoint,
	}
	if l.endpoint == "" {
		l.endpoint = l.name
	}
	if !limit.IsUnlimited() {
		l.interval = max(limit.Per/time.Duration(limit.Requests), 1)
		l.window = l.interval * time.Duration(limit.Burst)
	}
	return l, nil
}

// Limit returns the limit, with its defaults filled in.
func (l *Limiter) Limit() Limit { return l.limit }

// Len returns how many clients are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Allow takes a request from key's bucket. When the bucket is empty it reports false
// and how long until it holds a request again.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	ok, retryAfter, _ = l.allow(key)
	return ok, retryAfter
}

// allow is Allow; log reports whether this refusal is the first of the key's period.
func (l *Limiter) allow(key string) (ok bool, retryAfter time.Duration, log bool) {
	if l.limit.IsUnlimited() {
		return true, 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var b *bucket
	if el, found := l.buckets[key]; found {
		l.lru.MoveToFront(el)
		b = el.Value.(*bucket)
	} else {
		for len(l.buckets) >= l.maxKeys {
			l.remove(l.lru.Back())
		}
		b = &bucket{key: key, full: now}
		l.buckets[key] = l.lru.PushFront(b)
	}
	next := b.full
	if next.Before(now) {
		next = now
	}
	next = next.Add(l.interval)
	if ahead := next.Sub(now); ahead <= l.window {
		b.full, ok = next, true
	} else {
		retryAfter = ahead - l.window
		if b.logged.IsZero() || now.Sub(b.logged) >= l.limit.Per {
			b.logged, log = now, true
		}
	}
	l.forgetFull(now, 2)
	return ok, retryAfter, log
}

// forgetFull forgets up to n of the least recently used buckets that have refilled: a
// full bucket is the same as none. It stops at the first bucket still refilling.
func (l *Limiter) forgetFull(now time.Time, n int) {
	for ; n > 0 && l.lru.Len() > 1; n-- {
		el := l.lru.Back()
		b := el.Value.(*bucket)
		if b.full.After(now) || now.Sub(b.logged) < l.limit.Per {
			return
		}
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.buckets, el.Value.(*bucket).key)
	l.lru.Remove(el)
}

// Wrap limits next: a request over its client's limit gets the Reject answer (HTTP 429
// with Retry-After) instead. CORS preflights (OPTIONS) are not counted: browsers send
// one before many cross-origin requests, and they are answered without work.
func (l *Limiter) Wrap(next http.Handler) http.Handler {
	if l.limit.IsUnlimited() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		key := l.key(r)
		ok, retryAfter, log := l.allow(key)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		if log {
			l.log.WarnContext(r.Context(), "rate limit exceeded; refusing the client's requests with 429 (logged once per period)",
				"endpoint", l.name, "client", key, "limit", l.limit.String(), "retry_after", RetryAfterSeconds(retryAfter))
		}
		if l.obs != nil {
			l.obs.Observe(r.Context(), observe.Event{Kind: observe.RateLimited, Endpoint: l.endpoint, ClientIP: key, Reason: limitReason(log)})
		}
		l.reject(w, r, retryAfter)
	})
}

// limitReason is the Reason of a RateLimited event: "limit_reached" for a client's first
// refusal in a period (what the audit trail records), "" for the ones that follow.
func limitReason(first bool) string {
	if first {
		return "limit_reached"
	}
	return ""
}

// RetryAfterSeconds returns the Retry-After value for d: whole seconds, rounded up, at
// least 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// JSONError answers 429 with Retry-After and an RFC 6749 §5.2 style JSON body,
// {"error":"temporarily_unavailable","error_description":"…"}: for the token,
// revocation, introspection and registration endpoints, whose clients parse JSON. It
// sets the CORS headers those endpoints send (any origin, Retry-After exposed) so that
// browser clients can read the answer.
func JSONError(w http.ResponseWriter, _ *http.Request, retryAfter time.Duration) {
	secs := RetryAfterSeconds(retryAfter)
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{provider.ErrorCodeTemporarilyUnavailable, fmt.Sprintf("Too many requests from this address; retry after %d seconds.", secs)})
}

// PlainError answers 429 with Retry-After and a short text page: for pages a browser
// shows (the authorization endpoint, login pages), which must not redirect a refused
// request anywhere.
func PlainError(w http.ResponseWriter, _ *http.Request, retryAfter time.Duration) {
	secs := RetryAfterSeconds(retryAfter)
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("Content-Type", "text/plain;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, "Too many requests from your address. Please wait %d seconds and try again.\n", secs)
}
