package cimd

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Defaults of Options.
const (
	// DefaultTimeout is Options.Timeout's default.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxDocumentBytes is Options.MaxDocumentBytes's default (5 KiB).
	DefaultMaxDocumentBytes = 5 << 10
	// DefaultCacheTTL is Options.DefaultCacheTTL's default.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultMaxCacheTTL is Options.MaxCacheTTL's default.
	DefaultMaxCacheTTL = 24 * time.Hour
	// DefaultMaxCacheEntries is Options.MaxCacheEntries's default.
	DefaultMaxCacheEntries = 1024
	// DefaultMaxConcurrentFetches is Options.MaxConcurrentFetches's default.
	DefaultMaxConcurrentFetches = 16
	// DefaultMaxConcurrentFetchesPerHost is Options.MaxConcurrentFetchesPerHost's default.
	DefaultMaxConcurrentFetchesPerHost = 4
)

// Options configures a Resolver. The zero value (or nil) gives the defaults.
type Options struct {
	// Timeout bounds one fetch: connecting, TLS, headers and reading the body. Default
	// 5 s. A client that cannot be fetched in time fails its request.
	Timeout time.Duration

	// MaxDocumentBytes is the largest document accepted; the body is read incrementally
	// and a larger one is refused without reading further. Default 5 KiB (the draft's
	// §6.6 suggestion).
	MaxDocumentBytes int64

	// DefaultCacheTTL is how long a document whose response has no Cache-Control max-age
	// is cached. Default 5 minutes. Changes to a document take effect after at most
	// this long (or its max-age).
	DefaultCacheTTL time.Duration

	// MaxCacheTTL caps a response's max-age. Default 24 hours.
	MaxCacheTTL time.Duration

	// MaxCacheEntries bounds the number of cached documents; when full, expired entries
	// go first, then the ones expiring soonest. Default 1024.
	MaxCacheEntries int

	// MaxConcurrentFetches bounds the fetches running at once (requests for the same URL
	// share one fetch). Default 16. Requests wait for a slot within their own deadline.
	MaxConcurrentFetches int

	// MaxConcurrentFetchesPerHost bounds the fetches running at once from one host, so
	// that a slow host (anyone can put a client ID on one) cannot take every slot of
	// MaxConcurrentFetches and delay other clients' first logins. A host is the
	// registrable domain (a.example.com and b.example.com share one; see
	// golang.org/x/net/publicsuffix) or the IP address. Default 4. Requests wait for a
	// slot within their own deadline.
	MaxConcurrentFetchesPerHost int

	// DefaultGrantTypes are the grant types of a document without grant_types. Nil
	// means ["authorization_code"] (RFC 7591 §2: no refresh tokens); mcp.New uses
	// ["authorization_code", "refresh_token"] with compat.Options.LenientRegistration.
	DefaultGrantTypes []string

	// RedirectURIRules are the rules a document's redirect URIs must meet (see
	// provider.RedirectURIRules). The zero value, the default, is the specifications'
	// rules; mcp.New copies provider.Config.RedirectURIRules here, which
	// compat.Options.DotlessClientSchemes extends. The provider checks resolved clients
	// against its own copy as well.
	RedirectURIRules provider.RedirectURIRules

	// JWKSURI lets a private_key_jwt document give its keys by reference (jwks_uri, an
	// https URL, not beside jwks) rather than inline. Set it only when the provider
	// fetches client keys (provider.Config.ClientKeys, which fetches them through the
	// same SSRF guard with a size cap and a cache, again once on an unknown kid); mcp.New
	// sets it then, as it does registration.Options.JWKSURI. Default false: such a
	// document is refused ("jwks_uri is not supported").
	JWKSURI bool

	// AllowAddress, when set, admits addresses the SSRF guard refuses (see
	// CheckAddress) when it returns true: for tests serving documents on loopback, or a
	// deployment that must reach a document host on a private network. It is asked at
	// dial time with the resolved address. Nil by default: only public addresses.
	AllowAddress func(netip.Addr) bool

	// RootCAs are the certificate authorities trusted for document hosts. Nil means the
	// system roots. Set it for tests or a private PKI.
	RootCAs *x509.CertPool

	// UserAgent is sent with every fetch. Default "fosite-mcp-cimd/1".
	UserAgent string

	// Logger receives fetch failures with details the client is not shown. Default
	// slog.Default().
	Logger *slog.Logger

	// Observer, when set, is told of every fetch (observe.MetadataDocumentFetched) and of
	// every fetch the SSRF guard refused (observe.MetadataDocumentBlocked). mcp.New sets
	// it from the provider's. Default nil: none.
	Observer observe.Observer
}

// Resolver fetches, validates and caches client ID metadata documents. It implements
// provider.ClientResolver. Create it with New; it is safe for concurrent use.
type Resolver struct {
	opts   Options
	rules  provider.ClientRules // documents' rules: MetadataDocumentClientRules with opts
	client *http.Client
	sem    chan struct{} // MaxConcurrentFetches slots
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	cache    map[string]*entry
	inflight map[string]*fetchCall
	hosts    map[string]*hostSlots // by fetchHost; entries live while fetches use them
}

// hostSlots are the MaxConcurrentFetchesPerHost slots of one host and how many fetches
// hold or wait for one.
type hostSlots struct {
	slots chan struct{}
	users int
}

var _ provider.ClientResolver = (*Resolver)(nil)

type entry struct {
	client  *provider.Client
	expires time.Time
}

type fetchCall struct {
	done   chan struct{}
	client *provider.Client
	err    error
}

// New returns a Resolver with opts (nil means the defaults).
func New(opts *Options) (*Resolver, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Timeout < 0, o.MaxDocumentBytes < 0, o.DefaultCacheTTL < 0, o.MaxCacheTTL < 0,
		o.MaxCacheEntries < 0, o.MaxConcurrentFetches < 0, o.MaxConcurrentFetchesPerHost < 0:
		return nil, errors.New("cimd: Options values must not be negative")
	}
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	o.MaxDocumentBytes = cmp.Or(o.MaxDocumentBytes, DefaultMaxDocumentBytes)
	o.DefaultCacheTTL = cmp.Or(o.DefaultCacheTTL, DefaultCacheTTL)
	o.MaxCacheTTL = cmp.Or(o.MaxCacheTTL, DefaultMaxCacheTTL)
	o.MaxCacheEntries = cmp.Or(o.MaxCacheEntries, DefaultMaxCacheEntries)
	o.MaxConcurrentFetches = cmp.Or(o.MaxConcurrentFetches, DefaultMaxConcurrentFetches)
	o.MaxConcurrentFetchesPerHost = cmp.Or(o.MaxConcurrentFetchesPerHost, DefaultMaxConcurrentFetchesPerHost)
	o.UserAgent = cmp.Or(o.UserAgent, "fosite-mcp-cimd/1")
	for _, g := range o.DefaultGrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			return nil, fmt.Errorf("cimd: Options.DefaultGrantTypes: unsupported grant type %q", g)
		}
	}
	o.DefaultGrantTypes = slices.Clone(o.DefaultGrantTypes)
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	rules := provider.MetadataDocumentClientRules(o.DefaultGrantTypes, o.RedirectURIRules)
	rules.AllowJWKSURI = o.JWKSURI
	return &Resolver{
		opts:  o,
		rules: rules,
		// §4: redirects are not followed (the client returns them as the response);
		// §6.5: the SSRF guard checks every connection's resolved address.
		client:   netguard.NewClient(netguard.Options{Timeout: o.Timeout, AllowAddress: o.AllowAddress, RootCAs: o.RootCAs}),
		sem:      make(chan struct{}, o.MaxConcurrentFetches),
		log:      log,
		now:      time.Now,
		cache:    make(map[string]*entry),
		inflight: make(map[string]*fetchCall),
		hosts:    make(map[string]*hostSlots),
	}, nil
}

// Resolves implements provider.ClientResolver: every client ID starting with
// "https://" is a client ID metadata document URL (IsClientIDURL).
func (r *Resolver) Resolves(clientID string) bool { return IsClientIDURL(clientID) }

// ResolveClient implements provider.ClientResolver: it validates the client ID URL and
// returns the client its document describes, from the cache while it is fresh, else
// fetched (one fetch per URL at a time, whoever asks). The error says which rule
// failed, without internal addresses.
func (r *Resolver) ResolveClient(ctx context.Context, clientID string) (*provider.Client, error) {
	if err := ValidateClientIDURL(clientID); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if e, ok := r.cache[clientID]; ok {
		if r.now().Before(e.expires) {
			c := e.client.Clone()
			r.mu.Unlock()
			return c, nil
		}
		delete(r.cache, clientID)
	}
	call, ok := r.inflight[clientID]
	if !ok {
		call = &fetchCall{done: make(chan struct{})}
		r.inflight[clientID] = call
		// The fetch runs on its own, bounded by Options.Timeout: a caller giving up does
		// not cancel it for the others waiting on it.
		go r.run(context.WithoutCancel(ctx), clientID, call)
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return nil, call.err
		}
		return call.client.Clone(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("the client ID metadata document was not fetched in time: %w", ctx.Err())
	}
}

// Forget drops clientID's document from the cache, so that the next resolution fetches
// it again.
func (r *Resolver) Forget(clientID string) {
	r.mu.Lock()
	delete(r.cache, clientID)
	r.mu.Unlock()
}

// run fetches clientID for call and publishes the result.
func (r *Resolver) run(ctx context.Context, clientID string, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	var ttl time.Duration
	if release, err := r.acquire(ctx, clientID); err != nil {
		call.err = err
	} else {
		start := time.Now()
		call.client, ttl, call.err = r.fetch(ctx, clientID)
		r.observeFetch(ctx, clientID, start, call.err)
		release()
	}
	r.mu.Lock()
	delete(r.inflight, clientID)
	if call.err == nil && ttl > 0 {
		r.store(clientID, call.client, r.now().Add(ttl))
	}
	r.mu.Unlock()
	close(call.done)
}

// acquire waits, until ctx is done, for a slot of clientID's host
// (MaxConcurrentFetchesPerHost) and then for one of MaxConcurrentFetches, and returns the
// function that gives both back. The host slot comes first: fetches waiting on a slow
// host hold no global slot.
func (r *Resolver) acquire(ctx context.Context, clientID string) (release func(), err error) {
	key := fetchHost(clientID)
	r.mu.Lock()
	h := r.hosts[key]
	if h == nil {
		h = &hostSlots{slots: make(chan struct{}, r.opts.MaxConcurrentFetchesPerHost)}
		r.hosts[key] = h
	}
	h.users++
	r.mu.Unlock()
	leave := func() {
		r.mu.Lock()
		if h.users--; h.users == 0 {
			delete(r.hosts, key)
		}
		r.mu.Unlock()
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, errors.New("the client ID metadata document could not be fetched: too many fetches from its host in progress")
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		<-h.slots
		leave()
		return nil, errors.New("the client ID metadata document could not be fetched: too many fetches in progress")
	}
	return func() {
		<-r.sem
		<-h.slots
		leave()
	}, nil
}

// fetchHost returns the host whose fetches share MaxConcurrentFetchesPerHost: the
// registrable domain of the client ID URL's host name (so that one domain's subdomains
// share it), or its IP address.
func fetchHost(clientID string) string {
	u, err := url.Parse(clientID)
	if err != nil {
		return clientID
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// store caches c until expires; r.mu must be held.
func (r *Resolver) store(clientID string, c *provider.Client, expires time.Time) {
	if _, ok := r.cache[clientID]; !ok && len(r.cache) >= r.opts.MaxCacheEntries {
		now := r.now()
		for k, e := range r.cache {
			if !now.Before(e.expires) {
				delete(r.cache, k)
			}
		}
		for len(r.cache) >= r.opts.MaxCacheEntries {
			var victim string
			var soonest time.Time
			for k, e := range r.cache {
				if victim == "" || e.expires.Before(soonest) {
					victim, soonest = k, e.expires
				}
			}
			delete(r.cache, victim)
		}
	}
	r.cache[clientID] = &entry{client: c, expires: expires}
}

// fetch GETs and validates the document at clientID and returns the client with how
// long it may be cached.
func (r *Resolver) fetch(ctx context.Context, clientID string) (*provider.Client, time.Duration, error) {
	fetched := r.now().UTC()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return nil, 0, errors.New("the client ID is not a valid URL")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", r.opts.UserAgent)
	resp, err := r.client.Do(req)
	if err != nil {
		r.log.InfoContext(ctx, "cimd: fetch failed", slog.String("client_id", clientID), slog.String("error", err.Error()))
		return nil, 0, fetchError(err)
	}
	defer resp.Body.Close()
	fail := func(reason string) (*provider.Client, time.Duration, error) {
		r.log.InfoContext(ctx, "cimd: document refused", slog.String("client_id", clientID), slog.String("reason", reason))
		return nil, 0, errors.New(reason)
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail(fmt.Sprintf("the client ID metadata document URL answered with a redirect (%d), which is not followed", resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return fail(fmt.Sprintf("the client ID metadata document URL answered with status %d", resp.StatusCode))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil ||
		(mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return fail("the client ID metadata document is not served as application/json")
	}
	limit := r.opts.MaxDocumentBytes
	if resp.ContentLength > limit {
		return fail(fmt.Sprintf("the client ID metadata document is larger than %d bytes", limit))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		r.log.InfoContext(ctx, "cimd: reading the document failed", slog.String("client_id", clientID), slog.String("error", err.Error()))
		return nil, 0, fetchError(err)
	}
	if int64(len(body)) > limit {
		return fail(fmt.Sprintf("the client ID metadata document is larger than %d bytes", limit))
	}
	c, err := parseDocument(clientID, body, r.rules)
	if err != nil {
		return fail(err.Error())
	}
	c.UpdatedAt = fetched
	return c, r.cacheTTL(resp.Header), nil
}

// fetchError turns a transport error into the reason shown to the client: never the
// address or the underlying message.
func fetchError(err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, ErrAddressNotAllowed):
		return errBlocked
	case errors.As(err, &dnsErr):
		return errors.New(errBlocked.Error())
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return errors.New("the client ID metadata document could not be fetched: timed out")
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return errors.New("the client ID metadata document could not be fetched: its TLS certificate is not valid")
	}
	return errors.New("the client ID metadata document could not be fetched: connection failed")
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// cacheTTL returns how long a response may be cached (RFC 9111 §5.2.2): max-age minus
// Age, DefaultCacheTTL without max-age, zero with no-store, no-cache or an invalid
// max-age; at most MaxCacheTTL.
func (r *Resolver) cacheTTL(h http.Header) time.Duration {
	ttl := r.opts.DefaultCacheTTL
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err != nil || n < 0 {
					return 0
				}
				if n > int64(r.opts.MaxCacheTTL/time.Second) {
					n = int64(r.opts.MaxCacheTTL / time.Second)
				}
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	if age, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && age > 0 {
		ttl -= time.Duration(min(age, int64(r.opts.MaxCacheTTL/time.Second))) * time.Second
	}
	return max(0, min(ttl, r.opts.MaxCacheTTL))
}
