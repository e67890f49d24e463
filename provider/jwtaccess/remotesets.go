package jwtaccess

import (
	"cmp"
	"container/list"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
)

// Defaults of RemoteKeySetsConfig.
const (
	// DefaultMaxRemoteKeySets is RemoteKeySetsConfig.MaxSets's default.
	DefaultMaxRemoteKeySets = 1024
	// DefaultClientJWKSMaxBodyBytes is RemoteKeySetsConfig.MaxBodyBytes's default (64 KiB:
	// a client's key set holds a few keys of at most a few KiB each).
	DefaultClientJWKSMaxBodyBytes = 64 << 10
	// DefaultClientJWKSTimeout is RemoteKeySetsConfig.Timeout's default: the fetch runs
	// while a client waits at the token endpoint.
	DefaultClientJWKSTimeout = 5 * time.Second
)

// RemoteKeySetsConfig configures RemoteKeySets. The zero value gives the defaults.
type RemoteKeySetsConfig struct {
	// HTTPClient fetches the key sets. Nil, the default and the recommended setting,
	// means the module's SSRF-guarded client: https only, connections only to public
	// addresses (checked at dial time, after DNS), no proxy, no redirects, bounded by
	// Timeout. The URLs are chosen by clients, so a client set here should be as strict.
	HTTPClient *http.Client

	// Timeout bounds one fetch with the default HTTPClient. Default 5 s.
	Timeout time.Duration

	// AllowAddress, with the default HTTPClient, admits addresses the SSRF guard refuses
	// when it returns true (asked at dial time with the resolved address): for tests
	// serving key sets on loopback, or clients on a private network the operator trusts.
	// Nil by default: public addresses only.
	AllowAddress func(netip.Addr) bool

	// RootCAs are the certificate authorities trusted with the default HTTPClient. Nil
	// means the system roots.
	RootCAs *x509.CertPool

	// RefreshInterval is how long a fetched set is used before it is fetched again.
	// Default DefaultRemoteRefresh (5 minutes): a client's removed key stops working
	// after at most this long.
	RefreshInterval time.Duration

	// MinRefetchInterval bounds how often an assertion naming an unknown kid makes a set
	// be fetched again (a client's rotated-in key is picked up at once; forged kids
	// cannot turn into a flood of requests to the client's host). Default
	// DefaultRemoteMinRefetch (30 s).
	MinRefetchInterval time.Duration

	// MaxBodyBytes caps one key set document; a larger one is refused (the client
	// cannot authenticate). Default 64 KiB.
	MaxBodyBytes int64

	// MaxSets bounds the number of key sets kept, one per jwks_uri; beyond it the least
	// recently used set is dropped (and fetched again when next used). Default 1024, so
	// memory stays bounded however many clients register a jwks_uri.
	MaxSets int

	// Logger receives fetch failures. Default slog.Default().
	Logger *slog.Logger

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RemoteKeySets is the provider.ClientKeySource of private_key_jwt clients that publish
// their keys at a jwks_uri: one RemoteKeySet per URL (fetched on first use, again every
// RefreshInterval, and once more, rate limited, for an unknown kid; the last good set
// stays in use when a fetch fails), at most MaxSets of them, least recently used
// dropped first. Safe for concurrent use.
type RemoteKeySets struct {
	cfg    RemoteKeySetsConfig
	client *http.Client

	mu   sync.Mutex
	sets map[string]*list.Element // of *namedKeySet, by URL
	lru  *list.List               // most recently used first
}

type namedKeySet struct {
	url string
	set *RemoteKeySet
}

// NewRemoteKeySets returns a RemoteKeySets with cfg's settings (zero values take the
// defaults). It fetches nothing yet.
func NewRemoteKeySets(cfg RemoteKeySetsConfig) (*RemoteKeySets, error) {
	if cfg.Timeout < 0 || cfg.RefreshInterval < 0 || cfg.MinRefetchInterval < 0 || cfg.MaxBodyBytes < 0 || cfg.MaxSets < 0 {
		return nil, errors.New("jwtaccess: RemoteKeySetsConfig values must not be negative")
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultClientJWKSTimeout)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultClientJWKSMaxBodyBytes)
	cfg.MaxSets = cmp.Or(cfg.MaxSets, DefaultMaxRemoteKeySets)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	client := cfg.HTTPClient
	if client == nil {
		client = netguard.NewClient(netguard.Options{Timeout: cfg.Timeout, AllowAddress: cfg.AllowAddress, RootCAs: cfg.RootCAs})
	}
	return &RemoteKeySets{cfg: cfg, client: client, sets: make(map[string]*list.Element), lru: list.New()}, nil
}

// ClientKey implements provider.ClientKeySource: the key with ID kid from the set at
// jwksURI (see RemoteKeySet.VerificationKey for when it is fetched). A fetch is bounded by
// Timeout, not by ctx's cancellation: a caller that gives up (a client hanging up, on
// purpose or not) must not leave an aborted fetch counted against MinRefetchInterval,
// which would keep a client's rotated-in key unknown for that long.
func (r *RemoteKeySets) ClientKey(ctx context.Context, jwksURI, kid string) (*jose.JSONWebKey, error) {
	set, err := r.set(jwksURI)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
	defer cancel()
	return set.VerificationKey(ctx, kid)
}

// Len returns the number of key sets kept (at most MaxSets).
func (r *RemoteKeySets) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}

// set returns jwksURI's RemoteKeySet, creating it (and dropping the least recently used
// beyond MaxSets) when there is none.
func (r *RemoteKeySets) set(jwksURI string) (*RemoteKeySet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.sets[jwksURI]; ok {
		r.lru.MoveToFront(e)
		return e.Value.(*namedKeySet).set, nil
	}
	set, err := NewRemoteKeySet(RemoteKeySetConfig{
		URL: jwksURI, HTTPClient: r.client, RefreshInterval: r.cfg.RefreshInterval,
		MinRefetchInterval: r.cfg.MinRefetchInterval, MaxBodyBytes: r.cfg.MaxBodyBytes,
		Logger: r.cfg.Logger, Now: r.cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	r.sets[jwksURI] = r.lru.PushFront(&namedKeySet{url: jwksURI, set: set})
	for r.lru.Len() > r.cfg.MaxSets {
		oldest := r.lru.Back()
		r.lru.Remove(oldest)
		delete(r.sets, oldest.Value.(*namedKeySet).url)
	}
	return set, nil
}
