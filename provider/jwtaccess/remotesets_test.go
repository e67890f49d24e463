package jwtaccess_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

// clientJWKS serves one client's key set (kid "k") on loopback, padded with pad bytes.
func clientJWKS(t *testing.T, pad int) (url string, fetches func() int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"keys": []jose.JSONWebKey{{Key: key.Public(), KeyID: "k"}}, "padding": strings.Repeat("x", pad)}
	srv, n := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	return srv.URL, n.Load
}

func loopbackSets(t *testing.T, cfg jwtaccess.RemoteKeySetsConfig) *jwtaccess.RemoteKeySets {
	t.Helper()
	cfg.AllowAddress = func(a netip.Addr) bool { return a.IsLoopback() }
	cfg.Logger = quietLogger()
	s, err := jwtaccess.NewRemoteKeySets(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The per-URL sets are bounded (MaxSets, least recently used dropped): a dropped set is
// fetched again when next used, a kept one is not.
func TestRemoteKeySets_BoundedLRU(t *testing.T) {
	ctx := context.Background()
	base, fetches := clientJWKS(t, 0)
	sets := loopbackSets(t, jwtaccess.RemoteKeySetsConfig{MaxSets: 2})
	get := func(path string) {
		t.Helper()
		if _, err := sets.ClientKey(ctx, base+path, "k"); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	get("/a")
	get("/b")
	get("/a") // a is now the most recently used
	get("/c") // drops b
	if n := sets.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	if n := fetches(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
	get("/a") // kept
	if n := fetches(); n != 3 {
		t.Fatalf("%d fetches after using a kept set, want 3", n)
	}
	get("/b") // dropped: fetched again
	if n := fetches(); n != 4 {
		t.Fatalf("%d fetches after using a dropped set, want 4", n)
	}
}

// MaxBodyBytes caps the document: a larger one gives no key (and no panic).
func TestRemoteKeySets_SizeCap(t *testing.T) {
	ctx := context.Background()
	u, _ := clientJWKS(t, 2<<10)
	if _, err := loopbackSets(t, jwtaccess.RemoteKeySetsConfig{MaxBodyBytes: 1 << 10}).ClientKey(ctx, u, "k"); err == nil {
		t.Fatal("a 2 KiB document was accepted with a 1 KiB cap")
	}
	if _, err := loopbackSets(t, jwtaccess.RemoteKeySetsConfig{MaxBodyBytes: 4 << 10}).ClientKey(ctx, u, "k"); err != nil {
		t.Fatalf("within the cap: %v", err)
	}
}

// SSRF: with the default HTTP client, a key set on a loopback address is refused when
// the connection is dialed (nothing reaches the server), and a URL that is not https
// (http only for loopback hosts) is refused without a connection.
func TestRemoteKeySets_SSRFGuardByDefault(t *testing.T) {
	ctx := context.Background()
	u, fetches := clientJWKS(t, 0)
	sets, err := jwtaccess.NewRemoteKeySets(jwtaccess.RemoteKeySetsConfig{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{u, strings.Replace(u, "127.0.0.1", "localhost", 1), "http://jwks.example/jwks.json", "ftp://jwks.example/jwks.json"} {
		if _, err := sets.ClientKey(ctx, bad, "k"); err == nil {
			t.Errorf("%s: a key was returned", bad)
		}
	}
	if n := fetches(); n != 0 {
		t.Fatalf("the guard let %d fetches through", n)
	}
}

// A caller that gave up (a canceled request context) does not abort the fetch: the set
// is fetched and kept, so the next assertion finds the key without waiting out
// MinRefetchInterval.
func TestRemoteKeySets_FetchOutlivesCanceledCaller(t *testing.T) {
	u, fetches := clientJWKS(t, 0)
	sets := loopbackSets(t, jwtaccess.RemoteKeySetsConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sets.ClientKey(ctx, u, "k"); err != nil {
		t.Fatalf("canceled caller: %v", err)
	}
	if _, err := sets.ClientKey(context.Background(), u, "k"); err != nil || fetches() != 1 {
		t.Fatalf("next caller: %v after %d fetches, want the cached key after 1", err, fetches())
	}
}
