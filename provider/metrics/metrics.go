// Package metrics is a Prometheus observer (package provider/observe) for the
// authorization server and the MCP layer: request latency per endpoint and status,
// token issuance per grant type and outcome, OAuth errors per endpoint and code, refresh
// token reuse, rate limiting, bearer checks, storage failures, purges, client ID metadata
// document and JWKS fetches, security events, and the number of live grants.
//
// Build one with New, pass it as provider.Config.Observer (mcp.Config.Provider.Observer
// with the MCP layer), and mount Handler where Prometheus scrapes (commonly /metrics, on
// an address only the monitoring system reaches). Every label is bounded: endpoint route
// names, status codes, grant types and error codes from fixed lists ("other" for
// anything else); never a client ID, subject, token or URL from a request.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// DefaultNamespace prefixes every metric name (Options.Namespace).
const DefaultNamespace = "fosite_mcp"

// DefaultLiveGrantsCacheTTL is Options.LiveGrantsCacheTTL's default.
const DefaultLiveGrantsCacheTTL = 15 * time.Second

// LiveGrantsTimeout bounds the storage query behind the live grants gauge at scrape time.
const LiveGrantsTimeout = 2 * time.Second

// GrantCounter counts the grants that are live now: those holding an unexpired, active
// refresh token. storage/gorm implements it with one COUNT on an index.
type GrantCounter interface {
	CountLiveGrants(ctx context.Context) (int64, error)
}

// Options configure New. The zero value is valid.
type Options struct {
	// Registerer receives the metrics. Default: a new registry of its own, with the Go
	// runtime and process collectors, so that nothing global is touched. Pass your
	// application's registry to serve everything from one endpoint.
	Registerer prometheus.Registerer
	// Gatherer is what Handler serves. Default: Registerer when it is also a Gatherer
	// (a *prometheus.Registry is), else New's own registry.
	Gatherer prometheus.Gatherer
	// Namespace prefixes the metric names. Default DefaultNamespace.
	Namespace string
	// LatencyBuckets are the histogram buckets, in seconds. Default
	// prometheus.DefBuckets (5 ms to 10 s), which suits database-backed endpoints.
	LatencyBuckets []float64
	// LiveGrants, when set, backs the live_grants gauge, queried at scrape time at most
	// once per LiveGrantsCacheTTL. Nil: no such gauge.
	LiveGrants GrantCounter
	// LiveGrantsCacheTTL is how long a live grants count is served before the storage is
	// asked again, so that frequent scrapes (or several Prometheus servers) do not load
	// the database. Default DefaultLiveGrantsCacheTTL; at least 10 seconds.
	LiveGrantsCacheTTL time.Duration
}

// Metrics is the Prometheus observer. Create it with New; it is safe for concurrent use.
type Metrics struct {
	gatherer prometheus.Gatherer

	requests     *prometheus.HistogramVec // endpoint, status
	oauthErrors  *prometheus.CounterVec   // endpoint, error
	tokens       *prometheus.CounterVec   // grant_type, outcome
	reuse        prometheus.Counter
	rateLimited  *prometheus.CounterVec // endpoint
	bearer       [len(bearerOutcomes)]prometheus.Counter
	bearerTime   prometheus.Histogram
	storageErrs  *prometheus.CounterVec // where
	purged       prometheus.Counter
	fetches      *prometheus.CounterVec // kind (cimd, jwks), outcome
	fetchTime    *prometheus.HistogramVec
	events       *prometheus.CounterVec // event
	statusLabels [600]string

	grants    GrantCounter
	grantsTTL time.Duration
	grantsMu  sync.Mutex
	grantsAt  time.Time
	grantsN   float64
}

var _ observe.Observer = (*Metrics)(nil)

// bearerOutcomes are the BearerChecked outcomes, in the order of Metrics.bearer.
var bearerOutcomes = [...]string{
	observe.BearerOK, observe.BearerInvalid, observe.BearerExpired,
	observe.BearerInsufficientScope, observe.BearerUnavailable, observe.BearerError,
}

// New registers the metrics with opts.Registerer and returns the observer.
func New(opts Options) (*Metrics, error) {
	reg, gath := opts.Registerer, opts.Gatherer
	if reg == nil {
		own := prometheus.NewRegistry()
		if err := own.Register(collectors.NewGoCollector()); err != nil {
			return nil, err
		}
		if err := own.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, err
		}
		reg = own
		if gath == nil {
			gath = own
		}
	}
	if gath == nil {
		g, ok := reg.(prometheus.Gatherer)
		if !ok {
			return nil, errors.New("metrics: Options.Registerer is not a Gatherer; set Options.Gatherer")
		}
		gath = g
	}
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	buckets := opts.LatencyBuckets
	if buckets == nil {
		buckets = prometheus.DefBuckets
	}
	ttl := opts.LiveGrantsCacheTTL
	if ttl == 0 {
		ttl = DefaultLiveGrantsCacheTTL
	}
	if ttl < 10*time.Second {
		return nil, errors.New("metrics: Options.LiveGrantsCacheTTL must be at least 10 seconds")
	}
	m := &Metrics{gatherer: gath, grants: opts.LiveGrants, grantsTTL: ttl}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
		Help: "Requests to the authorization server's endpoints, by route name and HTTP status.", Buckets: buckets},
		[]string{"endpoint", "status"})
	m.oauthErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "oauth_errors_total",
		Help: "OAuth error responses, by route name and error code (\"other\" for codes outside the registered ones)."},
		[]string{"endpoint", "error"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "token_requests_total",
		Help: "Token endpoint requests that reached a grant handler, by grant type and outcome (\"issued\" or the OAuth error code)."},
		[]string{"grant_type", "outcome"})
	m.reuse = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "refresh_token_reuse_detected_total",
		Help: "Rotated refresh tokens presented again; each revoked its whole grant."})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rate_limited_requests_total",
		Help: "Requests refused with 429 by a rate limit, by route name."}, []string{"endpoint"})
	bearer := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bearer_checks_total",
		Help: "Bearer token checks of the MCP endpoints, by outcome (ok, invalid, expired, insufficient_scope, unavailable, error)."},
		[]string{"outcome"})
	for i, o := range bearerOutcomes {
		m.bearer[i] = bearer.WithLabelValues(o)
	}
	m.bearerTime = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "bearer_check_duration_seconds",
		Help:    "Time the bearer middleware took to decide on a request (not the handler's time).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}})
	m.storageErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "storage_errors_total",
		Help: "Requests answered 503 because the storage was unavailable, by where it failed."}, []string{"where"})
	m.purged = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "purged_rows_total",
		Help: "Expired rows (codes, tokens, pending requests, …) deleted by maintenance."})
	m.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "fetches_total",
		Help: "Outbound fetches of client ID metadata documents (kind cimd) and JSON Web Key Sets (kind jwks), by outcome (ok, error, blocked by the SSRF guard)."},
		[]string{"kind", "outcome"})
	m.fetchTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "fetch_duration_seconds",
		Help: "Duration of outbound fetches, by kind (cimd, jwks).", Buckets: buckets}, []string{"kind"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "security_events_total",
		Help: "Security-relevant events (those of the audit trail), by event name."}, []string{"event"})
	cs := []prometheus.Collector{m.requests, m.oauthErrors, m.tokens, m.reuse, m.rateLimited, bearer, m.bearerTime,
		m.storageErrs, m.purged, m.fetches, m.fetchTime, m.events}
	if m.grants != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "live_grants",
			Help: "Grants holding an unexpired, active refresh token (counted at most once per cache TTL)."}, m.liveGrants))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, k := range observe.Kinds() {
		if k.Audited() { // every event shows up at 0 before it first happens
			m.events.WithLabelValues(k.String())
		}
	}
	for code := range m.statusLabels {
		m.statusLabels[code] = strconv.Itoa(code)
	}
	return m, nil
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// Observe implements observe.Observer.
func (m *Metrics) Observe(_ context.Context, e observe.Event) {
	if e.Kind.Audited() {
		m.events.WithLabelValues(e.Kind.String()).Inc()
	}
	switch e.Kind {
	case observe.Request:
		m.requests.WithLabelValues(e.Endpoint, m.status(e.Status)).Observe(e.Duration.Seconds())
		if e.ErrorCode != "" {
			m.oauthErrors.WithLabelValues(e.Endpoint, errorCode(e.ErrorCode)).Inc()
		}
	case observe.TokensIssued:
		m.tokens.WithLabelValues(grantType(e.GrantType), "issued").Inc()
	case observe.TokenRefused:
		m.tokens.WithLabelValues(grantType(e.GrantType), errorCode(e.ErrorCode)).Inc()
	case observe.RefreshReuseDetected:
		m.reuse.Inc()
	case observe.RateLimited:
		m.rateLimited.WithLabelValues(e.Endpoint).Inc()
	case observe.BearerChecked:
		m.bearerTime.Observe(e.Duration.Seconds())
		for i, o := range bearerOutcomes {
			if o == e.Outcome {
				m.bearer[i].Inc()
				return
			}
		}
		m.bearer[1].Inc() // an unknown outcome counts as invalid
	case observe.StorageError:
		m.storageErrs.WithLabelValues(e.Reason).Inc()
	case observe.Purged:
		m.purged.Add(float64(e.Count))
	case observe.MetadataDocumentFetched:
		m.fetched("cimd", e)
	case observe.JWKSFetched:
		m.fetched("jwks", e)
	}
}

func (m *Metrics) fetched(kind string, e observe.Event) {
	outcome := e.Outcome
	if outcome != observe.FetchOK && outcome != observe.FetchBlocked {
		outcome = observe.FetchError
	}
	m.fetches.WithLabelValues(kind, outcome).Inc()
	m.fetchTime.WithLabelValues(kind).Observe(e.Duration.Seconds())
}

// status returns the label of an HTTP status without allocating.
func (m *Metrics) status(code int) string {
	if code < 100 || code >= len(m.statusLabels) {
		return "other"
	}
	return m.statusLabels[code]
}

// liveGrants is the live_grants gauge's value: the cached count, refreshed from storage
// when older than the TTL. A failed count keeps the last value.
func (m *Metrics) liveGrants() float64 {
	m.grantsMu.Lock()
	defer m.grantsMu.Unlock()
	if !m.grantsAt.IsZero() && time.Since(m.grantsAt) < m.grantsTTL {
		return m.grantsN
	}
	ctx, cancel := context.WithTimeout(context.Background(), LiveGrantsTimeout)
	defer cancel()
	n, err := m.grants.CountLiveGrants(ctx)
	m.grantsAt = time.Now() // a failing storage is asked again after the TTL, not at every scrape
	if err != nil {
		m.storageErrs.WithLabelValues("live grants").Inc()
		return m.grantsN
	}
	m.grantsN = float64(n)
	return m.grantsN
}

// grantType bounds a grant type label to the grants this module and its extensions know.
func grantType(g string) string {
	switch g {
	case "authorization_code", "refresh_token", "client_credentials",
		"urn:ietf:params:oauth:grant-type:device_code",
		"urn:ietf:params:oauth:grant-type:jwt-bearer",
		"urn:ietf:params:oauth:grant-type:token-exchange":
		return g
	}
	return "other"
}

// errorCode bounds an error code label to the codes of the OAuth RFCs this module
// answers with (RFC 6749, 6750, 7009, 7591, 7592, 8628, 8707).
func errorCode(c string) string {
	switch c {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
		"unsupported_grant_type", "invalid_scope", "access_denied", "unsupported_response_type",
		"server_error", "temporarily_unavailable", "invalid_token", "insufficient_scope",
		"unsupported_token_type", "invalid_redirect_uri", "invalid_client_metadata",
		"invalid_software_statement", "unapproved_software_statement", "authorization_pending",
		"slow_down", "expired_token", "invalid_target", "unauthorized", "request_unauthorized",
		"invalid_dpop_proof", "login_required", "consent_required", "interaction_required":
		return c
	}
	return "other"
}
