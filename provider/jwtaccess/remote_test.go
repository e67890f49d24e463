package jwtaccess_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// countingServer serves h and counts requests.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestRemoteKeySet_VerifiesAndFollowsRotation: a resource server in another process
// verifies with the jwks_uri only; the set is fetched once and cached, an unknown kid
// refetches at most every MinRefetchInterval, and a rotated key is picked up.
func TestRemoteKeySet_VerifiesAndFollowsRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	// Tokens outlive the clock jumps below (fosite computes exp from the real time).
	e := newEnv(t, gormtest.Open(t, gormtest.SQLite), envOptions{keys: jwtaccess.KeyManagerConfig{Now: clk.Now}, lifespan: 3 * time.Hour})
	srv, fetches := countingServer(t, e.keys.JWKSHandler())
	remote, err := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: srv.URL, Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: e.issuer, Keys: remote, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok := e.tokens("read")
	for range 5 {
		if _, err := v.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 5 verifications, want 1", n)
	}
	// Unknown kids: one refetch per MinRefetchInterval, however many tokens.
	clk.Advance(jwtaccess.DefaultRemoteMinRefetch)
	forged := signRaw(t, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "forged"}, map[string]any{}, newForge(t, e).key)
	for range 20 {
		if _, err := v.VerifyAccessToken(ctx, forged); !errors.Is(err, jwtaccess.ErrUnknownKey) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after 20 unknown kids, want 2", n)
	}
	// Rotation: the new key is published PrePublish ahead; the remote set refreshes
	// within its RefreshInterval (5 min < PrePublish 1 h) and knows it before it signs.
	if err := e.keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(jwtaccess.DefaultRemoteRefresh)
	if _, err := v.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if n := fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3 (refresh after RefreshInterval)", n)
	}
	clk.Advance(jwtaccess.DefaultPrePublish)
	tok2 := e.refresh(tok.RefreshToken)
	if kidOf(t, tok2.AccessToken) == kidOf(t, tok.AccessToken) {
		t.Fatal("not rotated")
	}
	if _, err := v.VerifyAccessToken(ctx, tok2.AccessToken); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if _, err := v.VerifyAccessToken(ctx, tok2.RefreshToken); !errors.Is(err, provider.ErrInvalidToken) {
		t.Fatalf("refresh token: %v", err)
	}
}

// TestRemoteKeySet_Failures: a JWKS that cannot be fetched, is too large, has the wrong
// type or holds only symmetric/private keys never makes a token valid; a server that
// cannot be reached is a server-side error (not ErrInvalidToken); a failed refresh keeps
// the last good set.
func TestRemoteKeySet_Failures(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, gormtest.Open(t, gormtest.SQLite), envOptions{})
	tok := e.tokens("read")
	kid := kidOf(t, tok.AccessToken)
	good := e.keys.JWKSHandler()

	serve := func(ct, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ct)
			_, _ = w.Write([]byte(body))
		})
	}
	release := make(chan struct{})
	defer close(release)
	cases := map[string]struct {
		h       http.Handler
		invalid bool // the error wraps ErrInvalidToken (kid not found) rather than a fetch failure
	}{
		"500":        {http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }), false},
		"HTML":       {serve("text/html", "<html>"), false},
		"not a JWKS": {serve("application/json", `{"issuer":"x"}`), false},
		"too large":  {serve("application/json", `{"keys":[],"pad":"`+strings.Repeat("x", jwtaccess.DefaultRemoteMaxBodyBytes)+`"}`), false},
		"slow": {http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}), false},
		"symmetric key": {serve("application/json", `{"keys":[{"kty":"oct","kid":"`+kid+`","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`), true},
		"unknown kty":   {serve("application/jwk-set+json", `{"keys":[{"kty":"XYZ","kid":"`+kid+`"}]}`), true},
	}
	for name, c := range cases {
		srv := httptest.NewServer(c.h)
		remote, err := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: srv.URL, HTTPClient: &http.Client{Timeout: 300 * time.Millisecond}, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: e.issuer, Keys: remote})
		_, err = v.VerifyAccessToken(ctx, tok.AccessToken)
		if err == nil || errors.Is(err, provider.ErrInvalidToken) != c.invalid {
			t.Errorf("%s: %v (invalid token: %v, want %v)", name, err, errors.Is(err, provider.ErrInvalidToken), c.invalid)
		}
		if !c.invalid && !errors.Is(err, jwtaccess.ErrKeySetUnavailable) {
			t.Errorf("%s: %v, want ErrKeySetUnavailable", name, err)
		}
		srv.Close()
	}

	// The last good set survives a failing refresh.
	var broken atomic.Bool
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		good.ServeHTTP(w, r)
	}))
	clk := newClock()
	remote, _ := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: srv.URL, Now: clk.Now, Logger: quietLogger()})
	v, _ := jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: e.issuer, Keys: remote, Now: clk.Now})
	if _, err := v.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	clk.Advance(time.Hour)
	if _, err := v.VerifyAccessToken(ctx, tok.AccessToken); !errors.Is(err, jwtaccess.ErrTokenExpired) {
		t.Fatalf("with a stale set after a failed refresh: %v, want the token checked (and expired) against the cached key", err)
	}

	for _, u := range []string{"http://as.example/jwks", "ftp://127.0.0.1/x", "", "https://"} {
		if _, err := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}

// Issue 14 finding 13: "https or loopback" for a remote JWKS URL parses the host as an
// IP address; a name that merely starts with "127." is a remote host.
func TestIssue14Finding13_RemoteKeySetLoopbackIsAnIPAddress(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.attacker.example/jwks": false, "http://127.0.0.1.nip.io/jwks": false, "http://localhost.attacker.example/jwks": false,
		"http://127.0.0.1:8080/jwks": true, "http://[::1]/jwks": true, "http://localhost:8080/jwks": true, "https://as.example/jwks": true,
	} {
		if _, err := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: u}); (err == nil) != ok {
			t.Errorf("%s: %v, want accepted=%v", u, err, ok)
		}
	}
}

// Every fetch of the remote set is reported to the Observer with its outcome (the
// fetches_total{kind="jwks"} metric): a good set is ok, a 500 is an error.
func TestRemoteKeySet_ReportsFetches(t *testing.T) {
	for _, c := range []struct {
		status  int
		outcome string
	}{{http.StatusOK, observe.FetchOK}, {http.StatusInternalServerError, observe.FetchError}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.status)
			_, _ = io.WriteString(w, `{"keys":[]}`)
		}))
		var got []observe.Event
		remote, err := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: srv.URL, Logger: quietLogger(),
			Observer: observe.Func(func(_ context.Context, e observe.Event) { got = append(got, e) })})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = remote.VerificationKey(context.Background(), "kid")
		srv.Close()
		if len(got) != 1 || got[0].Kind != observe.JWKSFetched || got[0].Outcome != c.outcome || got[0].Duration <= 0 {
			t.Errorf("status %d: events %+v, want one JWKSFetched %s", c.status, got, c.outcome)
		}
	}
}
