package jwtaccess

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// RemoteKeySetConfig configures a RemoteKeySet. URL is required.
type RemoteKeySetConfig struct {
	// URL is the authorization server's jwks_uri (https, or http on a loopback host).
	URL string

	// HTTPClient fetches the key set. Default: a client with a 10 second timeout.
	HTTPClient *http.Client

	// RefreshInterval is how long a fetched key set is used before it is fetched again.
	// Default 5 minutes; keep it below the authorization server's PrePublish.
	RefreshInterval time.Duration

	// MinRefetchInterval bounds how often a token with an unknown kid makes the set be
	// fetched again (so that forged kids cannot turn into a flood of requests). Default 30
	// seconds.
	MinRefetchInterval time.Duration

	// MaxBodyBytes caps the key set document. Default 256 KiB.
	MaxBodyBytes int64

	// Logger receives fetch failures. Default slog.Default().
	Logger *slog.Logger

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Observer, when set, is told of every fetch (observe.JWKSFetched, outcome and
	// duration). Default nil: none.
	Observer observe.Observer
}

// RemoteKeySet is a KeySet fetched from a jwks_uri, for a resource server that runs in
// another process than the authorization server. It fetches on first use, again every
// RefreshInterval, and when a token names an unknown kid (at most every
// MinRefetchInterval). When a fetch fails, the last good set stays in use. Only public
// asymmetric signing keys (EC, RSA, Ed25519) are taken from the document; symmetric and
// private keys are ignored. Safe for concurrent use.
type RemoteKeySet struct {
	cfg    RemoteKeySetConfig
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	fetchMu     sync.Mutex // one fetch at a time
	set         atomic.Pointer[remoteSet]
	lastAttempt atomic.Int64 // unix nanoseconds of the last fetch attempt
}

type remoteSet struct {
	fetchedAt time.Time
	keys      map[string]*jose.JSONWebKey
}

// ErrKeySetUnavailable is returned (not wrapping oauth.ErrInvalidToken) when no key
// set could ever be fetched: a server-side failure, not a bad token.
var ErrKeySetUnavailable = errors.New("jwtaccess: JSON Web Key Set unavailable")

// NewRemoteKeySet validates cfg and returns a RemoteKeySet. It does not fetch yet.
func NewRemoteKeySet(cfg RemoteKeySetConfig) (*RemoteKeySet, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback.IsHost(u.Hostname()))) {
		return nil, fmt.Errorf("jwtaccess: RemoteKeySetConfig.URL %q must be an https URL (or http on a loopback host)", cfg.URL)
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRemoteRefresh
	}
	if cfg.MinRefetchInterval <= 0 {
		cfg.MinRefetchInterval = DefaultRemoteMinRefetch
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultRemoteMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultRemoteTimeout}
	}
	return &RemoteKeySet{cfg: cfg, client: client, log: cfg.Logger.With("component", "jwtaccess", "jwks_uri", cfg.URL), now: cfg.Now}, nil
}

// VerificationKey implements KeySet. It fetches the set when none was fetched yet or it
// is older than RefreshInterval, and once more (rate-limited) when kid is unknown.
func (r *RemoteKeySet) VerificationKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	set := r.set.Load()
	if set == nil || r.now().Sub(set.fetchedAt) >= r.cfg.RefreshInterval {
		set = r.refresh(ctx, set)
	}
	if set == nil {
		return nil, ErrKeySetUnavailable
	}
	if k, ok := set.keys[kid]; ok {
		return k, nil
	}
	if r.now().Sub(time.Unix(0, r.lastAttempt.Load())) < r.cfg.MinRefetchInterval {
		return nil, ErrUnknownKey
	}
	if set = r.refresh(ctx, set); set != nil {
		if k, ok := set.keys[kid]; ok {
			return k, nil
		}
	}
	return nil, ErrUnknownKey
}

// refresh fetches the set unless another caller did so since seen was loaded, and
// returns the newest set (the old one when the fetch failed).
func (r *RemoteKeySet) refresh(ctx context.Context, seen *remoteSet) *remoteSet {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if cur := r.set.Load(); cur != seen {
		return cur // fetched meanwhile
	}
	if last := r.lastAttempt.Load(); last != 0 && r.now().Sub(time.Unix(0, last)) < r.cfg.MinRefetchInterval {
		return seen
	}
	r.lastAttempt.Store(r.now().UnixNano())
	if err := r.observedRefresh(ctx); err != nil {
		r.log.WarnContext(ctx, "fetching the JSON Web Key Set failed", "err", err)
	}
	return r.set.Load()
}

// observedRefresh is Refresh, reported to RemoteKeySetConfig.Observer when set.
func (r *RemoteKeySet) observedRefresh(ctx context.Context) error {
	if r.cfg.Observer == nil {
		return r.Refresh(ctx)
	}
	start := time.Now()
	err := r.Refresh(ctx)
	outcome := observe.FetchOK
	if err != nil {
		outcome = observe.FetchError
	}
	r.cfg.Observer.Observe(ctx, observe.Event{Kind: observe.JWKSFetched, Outcome: outcome, Duration: time.Since(start)})
	return err
}

// Refresh fetches the key set now.
func (r *RemoteKeySet) Refresh(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		return fmt.Errorf("jwtaccess: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("jwtaccess: fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwtaccess: fetching JWKS: status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil ||
		(mt != "application/json" && mt != "application/jwk-set+json") {
		return fmt.Errorf("jwtaccess: fetching JWKS: content type %q", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("jwtaccess: reading JWKS: %w", err)
	}
	if int64(len(body)) > r.cfg.MaxBodyBytes {
		return fmt.Errorf("jwtaccess: JWKS larger than %d bytes", r.cfg.MaxBodyBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return err
	}
	r.set.Store(&remoteSet{fetchedAt: r.now(), keys: keys})
	return nil
}

// parseJWKS keeps the public asymmetric signing keys with a kid; other keys (symmetric,
// private, encryption, unparsable, unknown kty) are skipped.
func parseJWKS(body []byte) (map[string]*jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Keys == nil {
		return nil, errors.New("jwtaccess: JWKS is not a JSON Web Key Set")
	}
	out := make(map[string]*jose.JSONWebKey, len(doc.Keys))
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || k.KeyID == "" || !k.Valid() || !k.IsPublic() {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Key.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		if k.Algorithm != "" && !allowedAlgorithm(k.Algorithm) {
			continue
		}
		if _, dup := out[k.KeyID]; dup {
			continue
		}
		out[k.KeyID] = &k
	}
	return out, nil
}
