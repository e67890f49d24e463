package jwtaccess_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

func kidOf(t testing.TB, token string) string {
	t.Helper()
	kid, _ := decodeJWS(t, token).header["kid"].(string)
	return kid
}

func publishedKIDs(m *jwtaccess.KeyManager) []string {
	var out []string
	for _, k := range m.PublicKeys().Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// TestRotation_OverlapAndReplicas walks one key rotation on two replicas (two stores, two
// key managers, one database) with a shared test clock:
//   - PrePublish before the scheduled rotation, the next key is created and published but
//     does not sign yet; a second replica learns it at its next refresh (by Refresh, and by
//     Run on its interval);
//   - at the rotation, new tokens carry the new kid; tokens signed with the old key keep
//     verifying on both replicas (overlap);
//   - once every token of the old key has expired, the old key is deleted and unpublished.
func TestRotation_OverlapAndReplicas(t *testing.T) {
	const (
		rotation   = 2 * time.Hour
		prePublish = 10 * time.Minute
		lifespan   = 4 * time.Hour // > the test's clock jumps before pruning, since fosite's exp uses the real time
	)
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		ctx := context.Background()
		clk := newClock()
		opts := gormtest.DefaultOptions(t)
		kcfg := jwtaccess.KeyManagerConfig{RotationPeriod: rotation, PrePublish: prePublish, RefreshInterval: time.Minute, MaxTokenLifespan: lifespan,
			Now: clk.Now, Logger: quietLogger()}
		e := newEnv(t, db.Open(t, opts), envOptions{keys: kcfg, lifespan: lifespan})

		replica := func(refresh time.Duration) (*jwtaccess.KeyManager, *jwtaccess.Verifier) {
			c := kcfg
			c.Store = db.Open(t, opts)
			c.RefreshInterval = refresh
			m, err := jwtaccess.NewKeyManager(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: e.issuer, Keys: m, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			return m, v
		}
		keys2, verifier2 := replica(time.Minute)
		keys3, verifier3 := replica(50 * time.Millisecond)
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = keys3.Run(runCtx) }()
		t.Cleanup(func() { stop(); wg.Wait() })

		tokA := e.tokens("read")
		kid1 := kidOf(t, tokA.AccessToken)
		for i, v := range []*jwtaccess.Verifier{e.verifier, verifier2, verifier3} {
			if _, err := v.VerifyAccessToken(ctx, tokA.AccessToken); err != nil {
				t.Fatalf("replica %d: %v", i+1, err)
			}
		}

		// Pre-publication.
		clk.Advance(rotation - prePublish)
		if err := e.keys.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		pub := publishedKIDs(e.keys)
		if len(pub) != 2 || pub[0] != kid1 {
			t.Fatalf("after pre-publication: %v", pub)
		}
		kid2 := pub[1]
		if k, _ := e.keys.SigningKeyID(ctx); k != kid1 {
			t.Fatalf("the new key signs before its time: %s", k)
		}
		tokB := e.refresh(tokA.RefreshToken)
		if kidOf(t, tokB.AccessToken) != kid1 {
			t.Fatal("token signed by the pre-published key")
		}
		// Replica 2 learns the key at its next refresh, not before.
		if _, err := keys2.VerificationKey(ctx, kid2); !errors.Is(err, jwtaccess.ErrUnknownKey) {
			t.Fatalf("replica 2 knows the new key before refreshing: %v", err)
		}
		if err := keys2.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(publishedKIDs(keys2), pub) {
			t.Fatalf("replica 2 publishes %v, replica 1 %v", publishedKIDs(keys2), pub)
		}
		// Replica 3 learns it through Run within a few refresh intervals.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := keys3.VerificationKey(ctx, kid2); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("replica 3 (Run every 50 ms) did not pick up the new key within 5 s")
			}
			time.Sleep(10 * time.Millisecond)
		}

		// Rotation.
		clk.Advance(prePublish + time.Second)
		tokC := e.refresh(tokB.RefreshToken)
		if kidOf(t, tokC.AccessToken) != kid2 {
			t.Fatalf("after rotation, token signed by %s, want %s", kidOf(t, tokC.AccessToken), kid2)
		}
		if k, _ := keys2.SigningKeyID(ctx); k != kid2 {
			t.Fatalf("replica 2 signs with %s, want %s", k, kid2)
		}
		for i, v := range []*jwtaccess.Verifier{e.verifier, verifier2, verifier3} {
			for name, tok := range map[string]string{"old key (A)": tokA.AccessToken, "old key (B)": tokB.AccessToken, "new key": tokC.AccessToken} {
				if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
					t.Errorf("replica %d, token of the %s: %v", i+1, name, err)
				}
			}
		}

		// Just before the end of the old key's window it is still published ...
		clk.Advance(lifespan)
		if err := e.keys.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(publishedKIDs(e.keys), kid1) {
			t.Fatal("old key deleted while tokens it signed may still be valid")
		}
		// ... and after it, deleted everywhere.
		clk.Advance(5 * time.Minute)
		if err := e.keys.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if err := keys2.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		for i, m := range []*jwtaccess.KeyManager{e.keys, keys2} {
			if slices.Contains(publishedKIDs(m), kid1) {
				t.Errorf("replica %d still publishes the expired key: %v", i+1, publishedKIDs(m))
			}
		}
		if _, err := verifier2.VerifyAccessToken(ctx, tokA.AccessToken); !errors.Is(err, jwtaccess.ErrUnknownKey) {
			t.Errorf("token of a deleted key: %v, want ErrUnknownKey", err)
		}
	})
}

// TestKeyManager_ConcurrentFirstStart: replicas starting at once on an empty database end
// up with one key, the same on every replica.
func TestKeyManager_ConcurrentFirstStart(t *testing.T) {
	const replicas = 5
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		stores := make([]*gormstore.Store, replicas)
		for i := range stores {
			stores[i] = db.Open(t, opts)
		}
		managers := startConcurrently(t, stores, jwtaccess.KeyManagerConfig{Logger: quietLogger()})
		keys, err := stores[0].ListSigningKeys(context.Background())
		if err != nil || len(keys) != 1 {
			t.Fatalf("store holds %d keys (%v), want 1", len(keys), err)
		}
		assertAgree(t, managers, []string{keys[0].ID})
	})
}

// TestKeyManager_ConcurrentRotation: replicas finding the rotation due at the same moment
// create one new key between them.
func TestKeyManager_ConcurrentRotation(t *testing.T) {
	const replicas = 5
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		stores := make([]*gormstore.Store, replicas)
		for i := range stores {
			stores[i] = db.Open(t, opts)
		}
		clk := newClock()
		managers := startConcurrently(t, stores, jwtaccess.KeyManagerConfig{Logger: quietLogger(), Now: clk.Now,
			RotationPeriod: 2 * time.Hour, PrePublish: 10 * time.Minute})
		clk.Advance(2 * time.Hour)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, m := range managers {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; errs[i] = m.Refresh(context.Background()) }()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
		keys, err := stores[0].ListSigningKeys(context.Background())
		if err != nil || len(keys) != 2 {
			t.Fatalf("store holds %d keys (%v), want 2", len(keys), err)
		}
		for _, m := range managers { // a replica that lost the race may have read before the winner committed
			if err := m.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		assertAgree(t, managers, []string{keys[0].ID, keys[1].ID})
	})
}

func startConcurrently(t *testing.T, stores []*gormstore.Store, cfg jwtaccess.KeyManagerConfig) []*jwtaccess.KeyManager {
	t.Helper()
	managers := make([]*jwtaccess.KeyManager, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cfg
			c.Store = s
			<-start
			managers[i], errs[i] = jwtaccess.NewKeyManager(context.Background(), c)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	return managers
}

func assertAgree(t *testing.T, managers []*jwtaccess.KeyManager, want []string) {
	t.Helper()
	signer, _ := managers[0].SigningKeyID(context.Background())
	for i, m := range managers {
		if got := publishedKIDs(m); !slices.Equal(got, want) {
			t.Errorf("replica %d publishes %v, want %v", i, got, want)
		}
		if k, err := m.SigningKeyID(context.Background()); err != nil || k != signer {
			t.Errorf("replica %d signs with %s (%v), replica 0 with %s", i, k, err, signer)
		}
	}
}

// TestKeyManager_Revoke: a revoked (compromised) signing key is unpublished at once, its
// tokens stop verifying, and a new key signs immediately.
func TestKeyManager_Revoke(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		ctx := context.Background()
		e := newEnv(t, s, envOptions{})
		tok := e.tokens("read")
		old := kidOf(t, tok.AccessToken)
		if err := e.keys.Revoke(ctx, old); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(publishedKIDs(e.keys), old) {
			t.Fatal("revoked key still published")
		}
		if _, err := e.verifier.VerifyAccessToken(ctx, tok.AccessToken); !errors.Is(err, jwtaccess.ErrUnknownKey) {
			t.Fatalf("token of a revoked key: %v", err)
		}
		if _, err := e.p.VerifyAccessToken(ctx, tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
			t.Fatalf("provider accepts a token of a revoked key: %v", err)
		}
		tok2 := e.tokens("read")
		if k := kidOf(t, tok2.AccessToken); k == old || k == "" {
			t.Fatalf("new token signed by %q", k)
		}
		if _, err := e.verifier.VerifyAccessToken(ctx, tok2.AccessToken); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKeyManager_RS256: RS256 keys sign and verify; the JWKS says so.
func TestKeyManager_RS256(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{keys: jwtaccess.KeyManagerConfig{Algorithm: "RS256"}})
		tok := e.tokens("read")
		if alg := decodeJWS(t, tok.AccessToken).header["alg"]; alg != "RS256" {
			t.Fatalf("alg %v", alg)
		}
		if _, err := e.verifier.VerifyAccessToken(context.Background(), tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		if k := e.keys.PublicKeys().Keys[0]; k.Algorithm != "RS256" || k.Use != "sig" || !k.IsPublic() {
			t.Fatalf("JWK %+v", k)
		}
	})
}

// TestNewKeyManager_Config: invalid configurations are refused.
func TestNewKeyManager_Config(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	ctx := context.Background()
	for name, cfg := range map[string]jwtaccess.KeyManagerConfig{
		"no store":                        {},
		"unknown algorithm":               {Store: s, Algorithm: "HS256"},
		"PrePublish ≤ RefreshInterval":    {Store: s, PrePublish: time.Minute, RefreshInterval: time.Minute},
		"RotationPeriod ≤ PrePublish":     {Store: s, RotationPeriod: time.Hour, PrePublish: time.Hour},
		"RotationPeriod < default prepub": {Store: s, RotationPeriod: 30 * time.Minute},
	} {
		if _, err := jwtaccess.NewKeyManager(ctx, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	keys, err := s.ListSigningKeys(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("a refused configuration created keys: %v %v", keys, err)
	}
}

// TestKeyManager_StaleCacheRefreshesInBackground: without Run, issuing a token with a
// stale cache starts a refresh outside the token endpoint's transaction (on SQLite a
// refresh waiting for the write lock the transaction holds would stall the request): the
// request is not delayed and the due key appears in the store and the cache.
func TestKeyManager_StaleCacheRefreshesInBackground(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		clk := newClock()
		e := newEnv(t, s, envOptions{lifespan: 4 * time.Hour, keys: jwtaccess.KeyManagerConfig{
			Now: clk.Now, RotationPeriod: 2 * time.Hour, PrePublish: 10 * time.Minute}})
		clk.Advance(2 * time.Hour)
		start := time.Now()
		tok := e.tokens("read")
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("token request took %v", d)
		}
		if _, err := e.verifier.VerifyAccessToken(context.Background(), tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(publishedKIDs(e.keys)) != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("background refresh did not create the due key: %v", publishedKIDs(e.keys))
			}
			time.Sleep(10 * time.Millisecond)
		}
		keys, err := s.ListSigningKeys(context.Background())
		if err != nil || len(keys) != 2 {
			t.Fatalf("store: %v %v", keys, err)
		}
	})
}

// TestDefaultMaxTokenLifespan_IsProviderDefault pins the constant jwtaccess cannot take
// from provider (it does not import it, so that resource servers link no fosite compose):
// a retired key stays published as long as a token with the provider's default lifespan.
func TestDefaultMaxTokenLifespan_IsProviderDefault(t *testing.T) {
	if jwtaccess.DefaultMaxTokenLifespan != provider.DefaultAccessTokenLifespan {
		t.Fatalf("DefaultMaxTokenLifespan %v, provider.DefaultAccessTokenLifespan %v", jwtaccess.DefaultMaxTokenLifespan, provider.DefaultAccessTokenLifespan)
	}
}
