package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/internal/benchcpu"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// benchEnv is an in-process provider (handlers called directly, no network).
type benchEnv struct {
	b        *testing.B
	store    *gormstore.Store
	p        *provider.Provider
	h        http.Handler
	issuer   string
	resource string
	rsSecret string
}

// newBenchEnv builds the provider on backend; configure, when given, changes its Config.
func newBenchEnv(b *testing.B, backend string, configure ...func(*provider.Config)) *benchEnv {
	b.Helper()
	s := gormtest.Open(b, backend)
	be := &benchEnv{b: b, store: s, issuer: "http://127.0.0.1:9/oauth", resource: "http://127.0.0.1:9/mcp"}
	cfg := provider.Config{
		Issuer: be.issuer, Storage: s, GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
		Scopes: []string{"read"}, Resources: []string{be.resource}, EnableClientCredentials: true,
		AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return testSubject, true },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, c := range configure {
		c(&cfg)
	}
	p, err := provider.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	be.p, be.h = p, p.Handler()
	ctx := context.Background()
	if _, _, err := p.CreateClient(ctx, provider.ClientSpec{ID: "public-app", Public: true, RedirectURIs: []string{loopbackCB}}); err != nil {
		b.Fatal(err)
	}
	if _, be.rsSecret, err = p.CreateClient(ctx, provider.ClientSpec{ID: "rs", GrantTypes: []string{"client_credentials"}}); err != nil {
		b.Fatal(err)
	}
	return be
}

// serve runs req through the provider's handler with a cancellable context, as net/http
// gives every request (httptest.NewRequest's never ends, which takes other paths in
// database drivers).
func (be *benchEnv) serve(req *http.Request) *httptest.ResponseRecorder {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	rec := httptest.NewRecorder()
	be.h.ServeHTTP(rec, req.WithContext(ctx))
	return rec
}

func (be *benchEnv) post(path string, form url.Values, user, pass string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, be.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return be.serve(req)
}

// code runs an auto-approved authorization request in process.
func (be *benchEnv) code() (code, verifier string) {
	code, verifier, err := be.codeFor("public-app")
	if err != nil {
		be.b.Fatal(err)
	}
	return code, verifier
}

// codeFor runs an auto-approved authorization request of public client clientID.
func (be *benchEnv) codeFor(clientID string) (code, verifier string, err error) {
	verifier = oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"http://localhost:5000/callback"},
		"scope": {"read"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"resource": {be.resource}}
	rec := be.serve(httptest.NewRequest(http.MethodGet, be.issuer+"/authorize?"+q.Encode(), nil))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if code = loc.Query().Get("code"); code == "" {
		return "", "", fmt.Errorf("authorize: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	return code, verifier, nil
}

func (be *benchEnv) exchange(code, verifier string) tokenResponse {
	tr, err := be.exchangeFor("public-app", code, verifier)
	if err != nil {
		be.b.Fatal(err)
	}
	return tr
}

// exchangeFor redeems code for public client clientID.
func (be *benchEnv) exchangeFor(clientID, code, verifier string) (tokenResponse, error) {
	rec := be.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {"http://localhost:5000/callback"}, "client_id": {clientID}}, "", "")
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || rec.Code != http.StatusOK {
		return tr, fmt.Errorf("token: %d %s", rec.Code, rec.Body)
	}
	return tr, nil
}

func forBackends(b *testing.B, fn func(b *testing.B, be *benchEnv)) {
	for _, backend := range gormtest.Backends(b) {
		b.Run(backend, func(b *testing.B) { fn(b, newBenchEnv(b, backend)) })
	}
}

// BenchmarkVerifyAccessToken measures in-process access token verification: as
// configured by default (the verified-token cache answers: an HMAC check and a map
// lookup), and with the cache off (one indexed read and a decryption every time).
func BenchmarkVerifyAccessToken(b *testing.B) {
	uncached := func(c *provider.Config) { c.VerifiedTokenCacheTTL = -1 }
	for _, backend := range gormtest.Backends(b) {
		b.Run(backend, func(b *testing.B) { benchVerify(b, newBenchEnv(b, backend)) })
		b.Run(backend+"/uncached", func(b *testing.B) { benchVerify(b, newBenchEnv(b, backend, uncached)) })
	}
}

func benchVerify(b *testing.B, be *benchEnv) {
	tok := be.exchange(be.code())
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchcpu.Start(b)
	for i := 0; i < b.N; i++ {
		if _, err := be.p.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report()
}

// BenchmarkIntrospection measures the RFC 7662 endpoint in process, with client
// authentication (generated secret, SHA-256).
func BenchmarkIntrospection(b *testing.B) {
	forBackends(b, func(b *testing.B, be *benchEnv) {
		tok := be.exchange(be.code())
		form := url.Values{"token": {tok.AccessToken}}
		b.ReportAllocs()
		b.ResetTimer()
		cpu := benchcpu.Start(b)
		defer cpu.Report()
		for i := 0; i < b.N; i++ {
			if rec := be.post("/introspect", form, "rs", be.rsSecret); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkAuthorize measures an auto-approved authorization request (validation, the
// code's row, which carries the PKCE challenge, and the grant's rows).
func BenchmarkAuthorize(b *testing.B) {
	forBackends(b, func(b *testing.B, be *benchEnv) {
		b.ReportAllocs()
		cpu := benchcpu.Start(b)
		for i := 0; i < b.N; i++ {
			be.code()
		}
		cpu.Report()
	})
}

// BenchmarkCodeExchange measures the token endpoint redeeming a code with PKCE
// (authorization requests run with the timer stopped).
func BenchmarkCodeExchange(b *testing.B) {
	forBackends(b, func(b *testing.B, be *benchEnv) {
		b.ReportAllocs()
		cpu := benchcpu.Start(b)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cpu.Pause()
			code, verifier := be.code()
			cpu.Resume()
			b.StartTimer()
			be.exchange(code, verifier)
		}
		cpu.Report()
	})
}

// BenchmarkLogin measures a new MCP client's first login in process: the client's
// creation (as dynamic registration stores it), an auto-approved authorization request
// and the code exchange, a new client every time (its first token also records the
// client's first use). serial runs one login at a time; parallel runs 4 per core at once,
// where the logins' writes queue for SQLite's one writer connection (wall ns/op is then
// the writer's time per login).
func BenchmarkLogin(b *testing.B) {
	forBackends(b, func(b *testing.B, be *benchEnv) {
		var n atomic.Int64
		login := func() error {
			id := fmt.Sprintf("login-%d", n.Add(1))
			if _, _, err := be.p.CreateClient(context.Background(), provider.ClientSpec{ID: id, Public: true, RedirectURIs: []string{loopbackCB}}); err != nil {
				return err
			}
			code, verifier, err := be.codeFor(id)
			if err == nil {
				_, err = be.exchangeFor(id, code, verifier)
			}
			return err
		}
		b.Run("serial", func(b *testing.B) {
			b.ReportAllocs()
			cpu := benchcpu.Start(b)
			for i := 0; i < b.N; i++ {
				if err := login(); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report()
		})
		b.Run("parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4)
			cpu := benchcpu.Start(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := login(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cpu.Report()
		})
	})
}

// BenchmarkRefresh measures refresh token rotation, each iteration using the token the
// previous one returned: strict rotation, and with the 30 s grace window that mcp.New
// configures by default (compat.Default's RefreshGrace), the path every MCP server takes.
func BenchmarkRefresh(b *testing.B) {
	grace := func(c *provider.Config) {
		c.RefreshTokenGrace = provider.RefreshTokenGrace{Period: 30 * time.Second, MaxReuses: provider.DefaultRefreshTokenGraceReuses}
	}
	for _, backend := range gormtest.Backends(b) {
		b.Run(backend, func(b *testing.B) { benchRefresh(b, newBenchEnv(b, backend)) })
		b.Run(backend+"/grace", func(b *testing.B) { benchRefresh(b, newBenchEnv(b, backend, grace)) })
	}
}

func benchRefresh(b *testing.B, be *benchEnv) {
	rt := be.exchange(be.code()).RefreshToken
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchcpu.Start(b)
	defer cpu.Report()
	for i := 0; i < b.N; i++ {
		rec := be.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"public-app"}}, "", "")
		var tr tokenResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || rec.Code != http.StatusOK {
			b.Fatalf("refresh: %d %s", rec.Code, rec.Body)
		}
		rt = tr.RefreshToken
	}
}
