package jwtaccess

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// KeyManagerConfig configures a KeyManager. Store is required; every other field has a
// documented default.
type KeyManagerConfig struct {
	// Store persists the signing keys (storage/gorm's Store implements it). Every replica
	// of the authorization server must use the same store.
	Store SigningKeyStore

	// Algorithm is the JWS algorithm of new keys: "ES256" (default: ECDSA P-256, small
	// and fast) or "RS256" (RSA 2048, for verifiers that know nothing else). Existing keys
	// keep their algorithm, so it can be changed at any time; the change takes effect at
	// the next rotation.
	Algorithm string

	// RotationPeriod is how long a key signs before its successor takes over. Default 30
	// days; negative disables scheduled rotation (Rotate still works).
	RotationPeriod time.Duration

	// PrePublish is how long a new key is published before it starts signing. It must be
	// longer than RefreshInterval (so that every replica has the key before it sees a
	// token signed with it) and longer than the time remote verifiers cache the JWKS
	// (the JWKS handler allows caching for at most a quarter of it, and at most five
	// minutes). Default 1 hour.
	PrePublish time.Duration

	// MaxTokenLifespan is the longest lifetime of the tokens the keys sign: a key that
	// stopped signing stays published this long (plus a margin for clock skew and
	// refresh delays) before it is deleted. Default 1 hour (provider's default access
	// token lifespan); AccessTokenStrategy raises it to provider.Config.AccessTokenLifespan
	// when that is longer.
	MaxTokenLifespan time.Duration

	// RefreshInterval is how often Run re-reads the store (picking up keys other replicas
	// created, rotating when due, deleting expired keys). Signing and the JWKS handler
	// also start a background re-read when the cache is older than this. Verification
	// never touches the store. Default 1 minute.
	RefreshInterval time.Duration

	// Logger receives key lifecycle logs (never key material). Default slog.Default().
	Logger *slog.Logger

	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// KeyManager owns the JWT signing keys: it loads them from the store, creates the first
// one, rotates them with overlap, deletes expired ones and caches them in memory. It
// is safe for concurrent use. Create it with NewKeyManager and run Run in the background.
type KeyManager struct {
	cfg   KeyManagerConfig
	store SigningKeyStore
	log   *slog.Logger
	now   func() time.Time

	maxLifespan atomic.Int64 // time.Duration
	set         atomic.Pointer[keySet]
	refreshMu   sync.Mutex   // serializes refreshes, rotations and revocations
	refreshing  atomic.Bool  // a background refresh is running
	lastLazy    atomic.Int64 // unix nanoseconds of the last background refresh
}

// keySet is an immutable snapshot of the stored keys.
type keySet struct {
	loadedAt time.Time
	keys     []*managedKey // by generation, oldest first
	byID     map[string]*managedKey
	jwks     []byte // the public JSON Web Key Set
}

// managedKey is a stored key with what signing and verifying need.
type managedKey struct {
	SigningKey
	public *jose.JSONWebKey
	signer jose.Signer
}

// NewKeyManager validates cfg, fills in defaults and loads the keys, creating the first
// one when the store has none (several replicas starting at once agree on one key).
func NewKeyManager(ctx context.Context, cfg KeyManagerConfig) (*KeyManager, error) {
	if cfg.Store == nil {
		return nil, errors.New("jwtaccess: KeyManagerConfig.Store is required")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = DefaultAlgorithm
	}
	if _, err := generateKey(cfg.Algorithm, true); err != nil {
		return nil, err
	}
	if cfg.RotationPeriod == 0 {
		cfg.RotationPeriod = DefaultRotationPeriod
	}
	if cfg.PrePublish <= 0 {
		cfg.PrePublish = DefaultPrePublish
	}
	if cfg.MaxTokenLifespan <= 0 {
		cfg.MaxTokenLifespan = DefaultMaxTokenLifespan
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.PrePublish <= cfg.RefreshInterval {
		return nil, fmt.Errorf("jwtaccess: PrePublish (%s) must be longer than RefreshInterval (%s)", cfg.PrePublish, cfg.RefreshInterval)
	}
	if cfg.RotationPeriod > 0 && cfg.RotationPeriod <= cfg.PrePublish {
		return nil, fmt.Errorf("jwtaccess: RotationPeriod (%s) must be longer than PrePublish (%s)", cfg.RotationPeriod, cfg.PrePublish)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &KeyManager{
		cfg:   cfg,
		store: cfg.Store,
		log:   cfg.Logger.With("component", "jwtaccess"),
		now:   cfg.Now,
	}
	m.maxLifespan.Store(int64(cfg.MaxTokenLifespan))
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Run refreshes the keys every RefreshInterval until ctx is done, and returns ctx's
// error. Failures are logged and the cached keys stay in use. Run it in its own
// goroutine on every replica, also on replicas that only verify.
func (m *KeyManager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.ErrorContext(ctx, "refreshing JWT signing keys failed; keeping the cached keys", "err", err)
			}
		}
	}
}

// Refresh re-reads the keys from the store, creates the first key or the next
// generation when one is due, deletes keys whose publication window has ended, and
// replaces the in-memory cache.
func (m *KeyManager) Refresh(ctx context.Context) error {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	return m.refreshLocked(ctx)
}

// Rotate creates the next generation now: it is published at once and starts signing
// after PrePublish. Scheduled rotation makes calling it unnecessary; use it to change
// the algorithm sooner or to shorten a key's life.
func (m *KeyManager) Rotate(ctx context.Context) error {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	keys, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwtaccess: listing signing keys: %w", err)
	}
	now := m.now()
	if err := m.create(ctx, nextGeneration(keys), now, now.Add(m.cfg.PrePublish)); err != nil && !errors.Is(err, ErrSigningKeyExists) {
		return err
	}
	return m.refreshLocked(ctx)
}

// Revoke deletes the key kid at once, for a compromised key: tokens it signed stop
// verifying (on other replicas and at remote verifiers once they refresh). When no
// remaining key can sign, a new key is created that signs immediately, without
// pre-publication (replicas and remote verifiers refuse its tokens until they refresh).
func (m *KeyManager) Revoke(ctx context.Context, kid string) error {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	if err := m.store.DeleteSigningKey(ctx, kid); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		return fmt.Errorf("jwtaccess: deleting signing key: %w", err)
	}
	m.log.WarnContext(ctx, "JWT signing key revoked", "kid", kid)
	keys, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwtaccess: listing signing keys: %w", err)
	}
	now := m.now()
	var signing bool
	for _, k := range keys {
		if !k.ActiveAt.After(now) {
			signing = true
		}
	}
	if !signing {
		if err := m.create(ctx, nextGeneration(keys), now, now); err != nil && !errors.Is(err, ErrSigningKeyExists) {
			return err
		}
	}
	return m.refreshLocked(ctx)
}

func (m *KeyManager) refreshLocked(ctx context.Context) error {
	keys, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwtaccess: listing signing keys: %w", err)
	}
	now := m.now()
	changed := false
	if gen, activeAt, due := m.due(keys, now); due {
		switch err := m.create(ctx, gen, now, activeAt); {
		case err == nil:
			changed = true
		case errors.Is(err, ErrSigningKeyExists):
			// Another replica created this generation at the same moment: use theirs.
			changed = true
		default:
			if len(keys) == 0 {
				return err
			}
			m.log.ErrorContext(ctx, "creating the next JWT signing key failed", "err", err)
		}
	}
	if m.prune(ctx, keys, now) {
		changed = true
	}
	if changed {
		if keys, err = m.store.ListSigningKeys(ctx); err != nil {
			return fmt.Errorf("jwtaccess: listing signing keys: %w", err)
		}
	}
	if len(keys) == 0 {
		return errors.New("jwtaccess: no signing key in the store")
	}
	set, err := m.buildSet(keys, now)
	if err != nil {
		return err
	}
	if old := m.set.Load(); old == nil || !sameKeys(old, set) {
		ids := make([]string, len(set.keys))
		for i, k := range set.keys {
			ids[i] = k.ID
		}
		m.log.InfoContext(ctx, "JWT signing keys loaded", "kids", ids)
	}
	m.set.Store(set)
	return nil
}

// due reports whether a new key must be created, with its generation and ActiveAt.
func (m *KeyManager) due(keys []*SigningKey, now time.Time) (gen int64, activeAt time.Time, ok bool) {
	if len(keys) == 0 {
		// Nobody can have cached anything yet: the first key signs at once.
		return 1, now, true
	}
	latest := keys[len(keys)-1]
	if m.cfg.RotationPeriod < 0 {
		return 0, time.Time{}, false
	}
	next := latest.ActiveAt.Add(m.cfg.RotationPeriod)
	if now.Before(next.Add(-m.cfg.PrePublish)) {
		return 0, time.Time{}, false
	}
	if earliest := now.Add(m.cfg.PrePublish); next.Before(earliest) {
		next = earliest // late (every replica was down): keep the full pre-publication
	}
	return latest.Generation + 1, next, true
}

// prune deletes keys whose publication window has ended: MaxTokenLifespan (plus a margin
// for clock skew and cache refreshes) after a later generation started signing.
func (m *KeyManager) prune(ctx context.Context, keys []*SigningKey, now time.Time) bool {
	keep := time.Duration(m.maxLifespan.Load()) + m.cfg.RefreshInterval + pruneMargin
	deleted := false
	for i, k := range keys {
		retired, ok := retiredAt(keys[i+1:], now)
		if !ok || now.Before(retired.Add(keep)) {
			continue
		}
		switch err := m.store.DeleteSigningKey(ctx, k.ID); {
		case err == nil:
			m.log.InfoContext(ctx, "JWT signing key deleted after its tokens expired", "kid", k.ID, "generation", k.Generation)
			deleted = true
		case errors.Is(err, fosite.ErrNotFound):
			deleted = true // another replica deleted it
		default:
			m.log.ErrorContext(ctx, "deleting an expired JWT signing key failed", "kid", k.ID, "err", err)
		}
	}
	return deleted
}

// retiredAt returns when a key stopped signing: the earliest ActiveAt among later
// generations that has passed.
func retiredAt(later []*SigningKey, now time.Time) (time.Time, bool) {
	var at time.Time
	for _, k := range later {
		if !k.ActiveAt.After(now) && (at.IsZero() || k.ActiveAt.Before(at)) {
			at = k.ActiveAt
		}
	}
	return at, !at.IsZero()
}

func nextGeneration(keys []*SigningKey) int64 {
	if len(keys) == 0 {
		return 1
	}
	return keys[len(keys)-1].Generation + 1
}

// create generates and stores a key of the configured algorithm.
func (m *KeyManager) create(ctx context.Context, gen int64, createdAt, activeAt time.Time) error {
	priv, err := generateKey(m.cfg.Algorithm, false)
	if err != nil {
		return err
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return err
	}
	err = m.store.CreateSigningKey(ctx, &SigningKey{
		ID: kid, Generation: gen, Algorithm: m.cfg.Algorithm, Key: priv,
		CreatedAt: createdAt, ActiveAt: activeAt,
	})
	if err != nil {
		if errors.Is(err, ErrSigningKeyExists) {
			m.log.InfoContext(ctx, "another replica created the JWT signing key generation first", "generation", gen)
			return err
		}
		return fmt.Errorf("jwtaccess: storing signing key: %w", err)
	}
	m.log.InfoContext(ctx, "JWT signing key created", "kid", kid, "generation", gen, "alg", m.cfg.Algorithm, "active_at", activeAt)
	return nil
}

// generateKey returns a new private key for alg; check only validates alg.
func generateKey(alg string, check bool) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		if check {
			return nil, nil
		}
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		if check {
			return nil, nil
		}
		return rsa.GenerateKey(rand.Reader, defaultRSABits)
	default:
		return nil, fmt.Errorf("jwtaccess: unsupported signing algorithm %q (want ES256 or RS256)", alg)
	}
}

// Thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of a public key, base64url:
// the kid a KeyManager gives its signing keys, and the kid the demo's -pkjwt-client and
// the conformance command's -pkjwt-key give a PEM key, which names none (one convention,
// so that both ends agree without a flag).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwtaccess: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// buildSet makes the cache snapshot: public JWKs, signers and the rendered JWKS.
func (m *KeyManager) buildSet(keys []*SigningKey, now time.Time) (*keySet, error) {
	set := &keySet{loadedAt: now, byID: make(map[string]*managedKey, len(keys))}
	pubs := make([]jose.JSONWebKey, 0, len(keys))
	for _, k := range keys {
		if !allowedAlgorithm(k.Algorithm) {
			return nil, fmt.Errorf("jwtaccess: stored key %q has unsupported algorithm %q", k.ID, k.Algorithm)
		}
		pub := jose.JSONWebKey{Key: k.Key.Public(), KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"}
		if !pub.Valid() {
			return nil, fmt.Errorf("jwtaccess: stored key %q is not a valid public key", k.ID)
		}
		signer, err := jose.NewSigner(
			jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: jose.JSONWebKey{Key: k.Key, KeyID: k.ID}},
			(&jose.SignerOptions{}).WithType(TokenType))
		if err != nil {
			return nil, fmt.Errorf("jwtaccess: signer for key %q: %w", k.ID, err)
		}
		mk := &managedKey{SigningKey: *k, public: &pub, signer: signer}
		set.keys = append(set.keys, mk)
		set.byID[k.ID] = mk
		pubs = append(pubs, pub)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: pubs})
	if err != nil {
		return nil, fmt.Errorf("jwtaccess: encoding JWKS: %w", err)
	}
	set.jwks = jwks
	return set, nil
}

func sameKeys(a, b *keySet) bool {
	if len(a.keys) != len(b.keys) {
		return false
	}
	for i := range a.keys {
		if a.keys[i].ID != b.keys[i].ID || !a.keys[i].ActiveAt.Equal(b.keys[i].ActiveAt) {
			return false
		}
	}
	return true
}

// current returns the cached keys. When they are older than RefreshInterval it starts
// a refresh in the background (at most one at a time, at most one attempt per
// RefreshInterval) and returns the cached keys at once. The refresh deliberately does not
// use the caller's context: signing runs inside the token endpoint's storage transaction,
// and a refresh inside it could cache a key that the transaction's rollback discards.
func (m *KeyManager) current() *keySet {
	set := m.set.Load()
	now := m.now()
	if now.Sub(set.loadedAt) < m.cfg.RefreshInterval ||
		now.Sub(time.Unix(0, m.lastLazy.Load())) < m.cfg.RefreshInterval ||
		!m.refreshing.CompareAndSwap(false, true) {
		return set
	}
	m.lastLazy.Store(now.UnixNano())
	go func() {
		defer m.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), lazyRefreshTimeout)
		defer cancel()
		if err := m.Refresh(ctx); err != nil {
			m.log.ErrorContext(ctx, "refreshing JWT signing keys failed; keeping the cached keys", "err", err)
		}
	}()
	return set
}

// signingKey returns the key that signs now: the newest generation whose ActiveAt has
// passed.
func (m *KeyManager) signingKey(ctx context.Context) (*managedKey, error) {
	set := m.current()
	now := m.now()
	for i := len(set.keys) - 1; i >= 0; i-- {
		if k := set.keys[i]; !k.ActiveAt.After(now) {
			return k, nil
		}
	}
	return nil, errors.New("jwtaccess: no signing key is active yet")
}

// VerificationKey implements KeySet from the in-memory cache, without touching the store:
// the public key kid among the published keys.
func (m *KeyManager) VerificationKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if k, ok := m.set.Load().byID[kid]; ok {
		return k.public, nil
	}
	return nil, ErrUnknownKey
}

// PublicKeys returns the published public keys (every stored key: the signing one, the
// ones waiting to sign and the retired ones still within their window).
func (m *KeyManager) PublicKeys() jose.JSONWebKeySet {
	set := m.set.Load()
	out := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(set.keys))}
	for _, k := range set.keys {
		out.Keys = append(out.Keys, *k.public)
	}
	return out
}

// SigningKeyID returns the key ID that signs tokens now.
func (m *KeyManager) SigningKeyID(ctx context.Context) (string, error) {
	k, err := m.signingKey(ctx)
	if err != nil {
		return "", err
	}
	return k.ID, nil
}

// raiseMaxLifespan makes sure retired keys are published at least d.
func (m *KeyManager) raiseMaxLifespan(d time.Duration) bool {
	for {
		cur := m.maxLifespan.Load()
		if int64(d) <= cur {
			return false
		}
		if m.maxLifespan.CompareAndSwap(cur, int64(d)) {
			return true
		}
	}
}
