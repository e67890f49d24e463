package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/syncbuf"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// The demo's promise: one command for the server, one for the client, and the client
// goes through the whole MCP authorization flow (PRM discovery, AS metadata, DCR,
// authorization code with PKCE and resource, token) and calls the tools; a second run
// reuses the stored tokens, an expired access token is refreshed, and a tool needing a
// wider scope makes the client step up (403 insufficient_scope → new consent).
func TestDemoClientEndToEnd(t *testing.T) {
	for _, backend := range gormtest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			demo := startDemo(t, demoOptions{db: gormtest.NewDatabase(t, backend), autoApprove: "alice"})
			clientEndToEnd(t, demo)
		})
	}
}

// The same with `-access-tokens jwt` (RFC 9068 JWT access tokens verified locally by
// the MCP endpoint): the client and every tool work unchanged, the tokens are JWTs of
// type at+jwt with the client, subject and resource as claims, and the signing keys are
// published at the metadata's jwks_uri.
func TestDemoClientEndToEnd_JWTAccessTokens(t *testing.T) {
	demo := startDemo(t, demoOptions{autoApprove: "alice", jwt: true})
	tokens := clientEndToEnd(t, demo)

	rec := readStoredLogin(t, tokens, demo.mcpURL)
	header, claims := decodeJWT(t, rec.AccessToken)
	if header["typ"] != "at+jwt" || header["kid"] == nil {
		t.Errorf("JWT header %v: want typ at+jwt (RFC 9068 §2.1) and a kid", header)
	}
	if claims["iss"] != demo.url || claims["sub"] != "alice" || claims["client_id"] == nil || claims["client_id"] == "" {
		t.Errorf("JWT claims %v: want iss %s, sub alice, client_id", claims, demo.url)
	}
	if aud := fmt.Sprint(claims["aud"]); !strings.Contains(aud, demo.mcpURL) {
		t.Errorf("JWT aud %s: want %s", aud, demo.mcpURL)
	}
	// exp comes from the request time rounded to the second, iat from the signing.
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); math.Abs(exp-iat-(10*time.Minute).Seconds()) > 2 {
		t.Errorf("JWT lifetime %vs, want the 10 minute default of JWT access tokens", exp-iat)
	}

	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, demo.url+"/.well-known/oauth-authorization-server", &meta)
	if meta.JWKSURI == "" {
		t.Fatal("no jwks_uri in the metadata")
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, meta.JWKSURI, &jwks)
	found := false
	for _, k := range jwks.Keys {
		found = found || k["kid"] == header["kid"]
	}
	if !found {
		t.Errorf("the token's key %v is not published at %s: %v", header["kid"], meta.JWKSURI, jwks.Keys)
	}
}

// clientEndToEnd drives the demo client through its promise against demo and returns
// the token file.
func clientEndToEnd(t *testing.T, demo *testDemo) string {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "config", "tokens.json")
	browser := &redirectBrowser{}
	opts := clientOptions{TokenFile: tokens, OpenURL: browser.open}

	// First run: a login (auto-approved), tools listed, whoami.
	out, err := demo.runClient(t, opts)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if n := browser.visits.Load(); n != 1 {
		t.Errorf("first run opened the browser %d times, want 1", n)
	}
	mustContain(t, "first run", out,
		`Authorization needed (scope "demo:tools")`, "Log in and approve in your browser", demo.url+"/authorize?", "Logged in.",
		"\n  echo ", "\n  stats ", "\n  whoami ",
		"subject    alice", "scopes     demo:tools\n", "resource   "+demo.mcpURL,
		"refresh token: yes", "Tokens stored in "+tokens)
	fi, err := os.Stat(tokens)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode %o, want 600", perm)
	}
	first := readStoredLogin(t, tokens, demo.mcpURL)

	// Second run: the stored token is used as is, no browser.
	out, err = demo.runClient(t, opts)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if n := browser.visits.Load(); n != 1 {
		t.Errorf("second run opened the browser (visits %d)", n)
	}
	mustContain(t, "second run", out, "Using the stored login", "subject    alice", "no login needed")
	if got := readStoredLogin(t, tokens, demo.mcpURL); got.AccessToken != first.AccessToken {
		t.Error("second run replaced a valid access token")
	}

	// Third run with an expired access token: refreshed with the stored refresh
	// token (rotated), still no browser.
	expireStoredLogin(t, tokens, demo.mcpURL)
	out, err = demo.runClient(t, opts)
	if err != nil {
		t.Fatalf("third run: %v\n%s", err, out)
	}
	if n := browser.visits.Load(); n != 1 {
		t.Errorf("refresh run opened the browser (visits %d)", n)
	}
	mustContain(t, "third run", out, "Refreshed the stored login", "subject    alice", "no login needed")
	third := readStoredLogin(t, tokens, demo.mcpURL)
	if third.AccessToken == first.AccessToken || third.RefreshToken == first.RefreshToken {
		t.Error("the refresh did not store a new access token and a rotated refresh token")
	}
	if !third.Expiry.After(time.Now()) {
		t.Errorf("refreshed token expiry %v is not in the future", third.Expiry)
	}

	// Step-up: the stats tool needs demo:admin; the server answers 403
	// insufficient_scope and the client asks again for the wider scope.
	out, err = demo.runClient(t, clientOptions{TokenFile: tokens, OpenURL: browser.open, Tool: "stats"})
	if err != nil {
		t.Fatalf("step-up run: %v\n%s", err, out)
	}
	if n := browser.visits.Load(); n != 2 {
		t.Errorf("step-up run: browser visits %d, want 2", n)
	}
	// The go-sdk unions the challenged scopes through a map: either order.
	if !strings.Contains(out, `Authorization needed (scope "demo:tools demo:admin")`) && !strings.Contains(out, `Authorization needed (scope "demo:admin demo:tools")`) {
		t.Errorf("step-up run does not ask for demo:tools and demo:admin:\n%s", out)
	}
	mustContain(t, "step-up run", out, "\nstats:\n", `"uptime_seconds"`, "demo:admin")
	if got := readStoredLogin(t, tokens, demo.mcpURL); !strings.Contains(got.Scope, "demo:admin") || !strings.Contains(got.Scope, "demo:tools") {
		t.Errorf("stored scope after step-up = %q, want demo:tools and demo:admin", got.Scope)
	}

	// -scope asks for more than the stored login has: a new login.
	out, err = demo.runClient(t, clientOptions{TokenFile: tokens, OpenURL: browser.open, Forget: true, Scopes: []string{scopeAdmin}})
	if err != nil {
		t.Fatalf("-scope run: %v\n%s", err, out)
	}
	mustContain(t, "-scope run", out, "Forgot the stored login", "Logged in.", "demo:admin")

	assertNoSecretsLogged(t, demo, tokens)
	return tokens
}

// decodeJWT returns a compact JWS's header and claims, unverified.
func decodeJWT(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("the access token is not a JWT (%d parts)", len(parts))
	}
	for i, out := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// getJSON GETs u and decodes its JSON body into v.
func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// The request logs must never contain tokens, codes, states or request IDs.
func assertNoSecretsLogged(t *testing.T, demo *testDemo, tokens string) {
	t.Helper()
	logs := demo.logs.String()
	rec := readStoredLogin(t, tokens, demo.mcpURL)
	for _, secret := range []string{rec.AccessToken, rec.RefreshToken, "ory_at_", "ory_rt_", "ory_ac_", "code=", "state=", "auth_request=", "code_verifier"} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the server logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, "path=/token") || !strings.Contains(logs, "path=/authorize") {
		t.Errorf("expected request log lines for /token and /authorize:\n%s", logs)
	}
}

func readStoredLogin(t *testing.T, path, server string) storedLogin {
	t.Helper()
	s := &tokenStore{path: path}
	rec, ok := s.get(server)
	if !ok {
		t.Fatalf("no stored login for %s in %s", server, path)
	}
	return rec
}

func expireStoredLogin(t *testing.T, path, server string) {
	t.Helper()
	s := &tokenStore{path: path}
	rec := readStoredLogin(t, path, server)
	rec.Expiry = time.Now().Add(-time.Minute)
	if err := s.put(server, rec); err != nil {
		t.Fatal(err)
	}
}

// The secrets file is what keeps logins alive across restarts: the token HMAC secret
// and the at-rest key must be the same after a restart, and a different secrets file
// makes every stored token worthless (the client logs in again).
func TestSecretsPersistAcrossRestarts(t *testing.T) {
	db := gormtest.NewDatabase(t, gormtest.SQLite)
	secretsPath := filepath.Join(t.TempDir(), "demo.db.secrets")
	demo := startDemo(t, demoOptions{db: db, autoApprove: "alice", secretsPath: secretsPath})
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	browser := &redirectBrowser{}
	opts := clientOptions{TokenFile: tokens, OpenURL: browser.open}
	if out, err := demo.runClient(t, opts); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !demo.server.secretsCreated {
		t.Error("first start did not report creating the secrets file")
	}
	fi, err := os.Stat(secretsPath)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("secrets file mode %o, want 600", perm)
	}

	demo.restart()
	if demo.server.secretsCreated {
		t.Error("restart created new secrets")
	}
	out, err := demo.runClient(t, opts)
	if err != nil {
		t.Fatalf("after restart: %v\n%s", err, out)
	}
	mustContain(t, "after restart", out, "no login needed", "subject    alice")
	// The refresh after a restart reads the grant sealed before it.
	expireStoredLogin(t, tokens, demo.mcpURL)
	out, err = demo.runClient(t, opts)
	if err != nil {
		t.Fatalf("refresh after restart: %v\n%s", err, out)
	}
	mustContain(t, "refresh after restart", out, "Refreshed the stored login", "no login needed")
	if n := browser.visits.Load(); n != 1 {
		t.Errorf("browser visits %d after restarts, want 1", n)
	}

	// Other secrets, same database: the stored tokens are refused, the client logs in again.
	demo.cfg.SecretsPath = filepath.Join(t.TempDir(), "other.secrets")
	demo.restart()
	out, err = demo.runClient(t, opts)
	if err != nil {
		t.Fatalf("with other secrets: %v\n%s", err, out)
	}
	mustContain(t, "with other secrets", out, "Logged in.", "subject    alice")
	if n := browser.visits.Load(); n != 2 {
		t.Errorf("browser visits %d with other secrets, want 2", n)
	}
}

// -auto-approve approves anybody's request: refused unless the issuer is loopback, and
// refused before anything is created.
func TestAutoApproveRefusedForNonLoopbackIssuer(t *testing.T) {
	dir := t.TempDir()
	for _, issuer := range []string{"https://demo.example.com", "https://10.0.0.1:8443"} {
		_, err := newServer(context.Background(), serverConfig{
			Issuer:      issuer,
			DBPath:      filepath.Join(dir, "demo.db"),
			SecretsPath: filepath.Join(dir, "demo.db.secrets"),
			AutoApprove: "alice",
		})
		if err == nil || !strings.Contains(err.Error(), "-auto-approve") {
			t.Errorf("%s: err = %v, want the -auto-approve refusal", issuer, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused start created files: %v", entries)
	}
	// Through the command line too.
	err := run(context.Background(), []string{"serve", "-addr", "127.0.0.1:0", "-base-url", "https://demo.example.com",
		"-db", filepath.Join(dir, "demo.db"), "-auto-approve", "alice"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-auto-approve") {
		t.Errorf("serve -auto-approve with a public -base-url: err = %v", err)
	}
	for _, issuer := range []string{"http://localhost:8080", "http://127.0.0.1:9", "http://[::1]:8080"} {
		s, err := newServer(context.Background(), serverConfig{
			Issuer: issuer, DBPath: filepath.Join(t.TempDir(), "demo.db"), SecretsPath: filepath.Join(t.TempDir(), "s"), AutoApprove: "alice",
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Errorf("%s: %v", issuer, err)
			continue
		}
		s.Close()
	}
}

// A listener that accepts connections from other machines (":0", "0.0.0.0:0") makes the
// demo no local server even though its default issuer says localhost: -auto-approve is
// refused (before, anybody on the network got codes approved as alice, redirected to
// their own loopback: found by a security review), and without it the users' passwords
// are the secrets file's, not the well-known demo ones.
func TestAutoApproveRefusedOnAWildcardListener(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0"} {
		dir := t.TempDir()
		// A started server would stop at the deadline and return nil.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, []string{"serve", "-addr", addr, "-db", filepath.Join(dir, "demo.db"), "-auto-approve", "alice"}, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "-auto-approve is refused on a listener") {
			t.Errorf("serve -addr %s -auto-approve: err = %v", addr, err)
		}
	}
	dir := t.TempDir()
	s, err := newServer(context.Background(), serverConfig{Issuer: "http://localhost:8080", ListensBeyondLoopback: true,
		DBPath: filepath.Join(dir, "demo.db"), SecretsPath: filepath.Join(dir, "s"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.users.Authenticate(context.Background(), "alice", "wonderland"); err == nil {
		t.Error("the well-known demo password works on a listener reachable from other machines")
	}
}

// `demo serve` prints where everything is, answers /healthz, runs the library's
// maintenance (mcp.Server.Run: an abandoned registration left in the database is pruned
// at start), and stops gracefully when its context ends (SIGINT/SIGTERM in main), with
// opaque tokens and with -access-tokens jwt (whose key rotation also runs).
func TestServeCommandBannerHealthAndGracefulShutdown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		banner []string
	}{
		{"defaults", nil, []string{
			"Clients      dynamic registration or client ID metadata documents",
			"Tokens       opaque, valid 1h0m0s, verified against the database",
		}},
		{"jwt without cimd", []string{"-access-tokens", "jwt", "-cimd=false"}, []string{
			"Clients      dynamic registration only",
			"Tokens       JWT (RFC 9068), valid 10m0s, verified locally (keys at http://127.0.0.1:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { serveBannerHealthAndShutdown(t, tc.args, tc.banner) })
	}
}

func serveBannerHealthAndShutdown(t *testing.T, extraArgs, wantBanner []string) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	seedAbandonedClient(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &syncbuf.Buffer{}
	done := make(chan error, 1)
	args := append([]string{"-addr", "127.0.0.1:0", "-db", db, "-auto-approve", "alice"}, extraArgs...)
	go func() {
		done <- run(ctx, args, pw, stderr)
		pw.Close()
	}()
	var banner strings.Builder
	mcpURL := ""
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		banner.WriteString(line + "\n")
		if f := strings.Fields(line); len(f) == 3 && f[0] == "MCP" && f[1] == "server" {
			mcpURL = f[2]
		}
		if strings.Contains(line, "inspector") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if mcpURL == "" {
		t.Fatalf("no MCP URL in the banner:\n%s\nstderr:\n%s", banner.String(), stderr.String())
	}
	base := strings.TrimSuffix(mcpURL, mcpPath)
	mustContain(t, "banner", banner.String(), "Issuer       "+base, "alice    wonderland", "bob      can-we-fix-it",
		"go run ./cmd/demo client -url "+mcpURL, filepath.Join(dir, "demo.db.secrets"))
	mustContain(t, "banner", banner.String(), wantBanner...)

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || health["status"] != "ok" {
		t.Errorf("/healthz = %d %v", resp.StatusCode, health)
	}
	resp, err = http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	clear(health)
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || health["status"] != "ready" {
		t.Errorf("/readyz = %d %v", resp.StatusCode, health)
	}
	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mustContain(t, "home page", string(home), mcpURL, "whoami", "demo:admin")

	// A connected MCP client keeps a standalone SSE stream (GET /mcp) open; shutting
	// down must not wait for it to leave.
	tokens := filepath.Join(dir, "tokens.json")
	var out strings.Builder
	if err := runClient(ctx, clientOptions{URL: mcpURL, TokenFile: tokens, OpenURL: (&redirectBrowser{}).open, CallbackAddr: "127.0.0.1:0"}, &out); err != nil {
		t.Fatalf("client: %v\n%s", err, out.String())
	}
	rec := readStoredLogin(t, tokens, mcpURL)
	session, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{
		Endpoint: mcpURL, HTTPClient: &http.Client{Transport: bearerTransport(rec.AccessToken)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if _, err := session.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the client opens its standalone stream after initializing

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graceful shutdown took %v with a connected MCP client, want it to end the client's stream at once", d)
	}
	mustContain(t, "server log", stderr.String(), "shutting down", "stopped", "path=/healthz",
		"msg=\"mcp: maintenance\"", "pruned_clients=1")
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

// bearerTransport adds an Authorization header to every request.
type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// Flags: unknown arguments and bad tool arguments are errors, -h is not a crash.
func TestFlags(t *testing.T) {
	if err := run(context.Background(), []string{"serve", "extra"}, io.Discard, io.Discard); err == nil {
		t.Error("serve with a stray argument: no error")
	}
	if err := run(context.Background(), []string{"client", "echo", "not json"}, io.Discard, io.Discard); err == nil {
		t.Error("client with invalid JSON arguments: no error")
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	o, err := parseClientFlags([]string{"-url", "http://127.0.0.1:1/mcp", "-scope", "demo:admin, demo:tools", "-no-browser", "echo", `{"text":"hi"}`}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "http://127.0.0.1:1/mcp" || len(o.Scopes) != 2 || o.Tool != "echo" || o.Args["text"] != "hi" || o.OpenURL != nil {
		t.Errorf("parsed client flags: %+v", o)
	}
	f, err := parseServeFlags([]string{"-db", "x.db"}, io.Discard)
	if err != nil || f.secrets != "x.db.secrets" {
		t.Errorf("default secrets path = %q (%v), want x.db.secrets", f.secrets, err)
	}
	if f.accessTokens != tokensOpaque || !f.cimd || f.tokenTTL != 0 {
		t.Errorf("defaults: -access-tokens %q, -cimd %v, -token-ttl %v; want opaque, true, 0 (the format's default)", f.accessTokens, f.cimd, f.tokenTTL)
	}
	if f, err := parseServeFlags([]string{"-access-tokens", "jwt", "-token-ttl", "5m"}, io.Discard); err != nil || f.accessTokens != tokensJWT || f.tokenTTL != 5*time.Minute {
		t.Errorf("-access-tokens jwt -token-ttl 5m: %+v, %v", f, err)
	}
	for _, bad := range [][]string{{"-access-tokens", "JWT"}, {"-access-tokens", ""}, {"-token-ttl", "-1m"}} {
		if _, err := parseServeFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// seedAbandonedClient creates the demo's SQLite database at path with a dynamically
// registered client that has not been used for 100 days, for the maintenance (90 days by
// default) to prune.
func seedAbandonedClient(t *testing.T, path string) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := gormstore.OpenSQLite(path, gormstore.Options{EncryptionKeys: []gormstore.Key{{ID: "seed", Secret: key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-100 * 24 * time.Hour)
	if err := s.CreateClient(ctx, &provider.Client{ID: "abandoned", Name: "abandoned", Public: true, Source: provider.ClientSourceDynamic,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		CreatedAt: old, UpdatedAt: old}); err != nil {
		t.Fatal(err)
	}
}

// -auto-approve approves only requests answered on this machine: a client that
// registered an https redirect URI (as a web page the developer visits could, since
// registration is open and CORS-enabled) is sent to the login page instead of being
// handed a token for the auto-approved user. So is a private-use scheme, which hands the
// code to whichever application claims it (issue 14 finding 1: ftp:// and
// x-safari-https:// used to be approved; they are now refused at registration).
func TestAutoApproveOnlyForLocalRedirects(t *testing.T) {
	demo := startDemo(t, demoOptions{autoApprove: "alice", rateLimits: &mcp.RateLimits{Disabled: true}})
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		redirect string
		auto     bool
	}{
		{"http://127.0.0.1:45123/callback", true},
		{"http://localhost:45124/callback", true},
		{"com.example.app:/cb", false},
		{"cursor://anysphere.cursor-mcp/oauth/callback", false}, // registered under compat.DotlessClientSchemes
		{"https://evil.example/cb", false},
		{"ftp://attacker.example/cb", false},
		{"x-safari-https://attacker.example/cb", false},
	} {
		resp, err := hc.Post(demo.url+"/register", "application/json", strings.NewReader(
			`{"client_name":"x","redirect_uris":["`+tc.redirect+`"],"token_endpoint_auth_method":"none"}`))
		if err != nil {
			t.Fatal(err)
		}
		var reg struct {
			ClientID string `json:"client_id"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&reg)
		resp.Body.Close()
		q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {tc.redirect},
			"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "state": {"state-1234"}}
		resp, err = hc.Get(demo.url + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if got := strings.HasPrefix(loc, tc.redirect) && strings.Contains(loc, "code="); got != tc.auto {
			t.Errorf("%s: auto-approved = %v (Location %q); want %v", tc.redirect, got, loc, tc.auto)
		}
	}
}
