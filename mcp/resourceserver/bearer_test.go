package resourceserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// rs is a protected resource server on loopback HTTP: /mcp and /other are two resources,
// each guarded by its own bearer middleware; /mcp/admin additionally requires "admin".
type rs struct {
	srv           *httptest.Server
	mcpURL, other string
}

func newRS(t *testing.T, v resourceserver.AccessTokenVerifier, scopes []string) *rs {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	r := &rs{srv: srv, mcpURL: base + "/mcp", other: base + "/other"}
	guard := resourceserver.MustRequireBearer(v, resourceserver.BearerOptions{Resource: r.mcpURL, Scopes: scopes})
	mux := http.NewServeMux()
	mux.Handle("/mcp", guard(identity))
	mux.Handle("/mcp/admin", guard(resourceserver.MustRequireScopes("admin")(identity)))
	mux.Handle("/other", resourceserver.MustRequireBearer(v, resourceserver.BearerOptions{Resource: r.other})(identity))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return r
}

// identity echoes the verified token from the context.
var identity = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	tok, ok := resourceserver.TokenFromContext(r.Context())
	if !ok {
		http.Error(w, "no token in context", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(tok)
})

type answer struct {
	status    int
	challenge map[string]string
	token     provider.AccessToken
	raw       string
}

func call(t *testing.T, url, token string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &a.token); err != nil {
			t.Fatal(err)
		}
		return a
	}
	cs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(cs) != 1 {
		t.Fatalf("challenge %q: %v", resp.Header.Values("WWW-Authenticate"), err)
	}
	a.challenge = cs[0].Params
	if a.challenge == nil {
		a.challenge = map[string]string{}
	}
	return a
}

// RFC 6750 §3.1 and MCP: the middleware over real tokens from a real provider: audience
// (RFC 8707), access tokens only, revocation, expiry and another issuer's tokens are
// invalid_token; missing scopes are insufficient_scope (403) naming everything needed.
// The same table runs with the provider verifying in process and with RFC 7662
// introspection over loopback HTTP (a resource server in another process).
func TestRequireBearer_RFC6750_3_1_RealTokens(t *testing.T) {
	t.Run("provider", func(t *testing.T) {
		testRealTokens(t, func(a *as) resourceserver.AccessTokenVerifier { return a.Provider })
	})
	t.Run("RFC7662 introspection", func(t *testing.T) {
		testRealTokens(t, func(a *as) resourceserver.AccessTokenVerifier { return newIntrospectionVerifier(a) })
	})
}

func testRealTokens(t *testing.T, verifierOf func(*as) resourceserver.AccessTokenVerifier) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		// The resource server's verifier is filled in once the provider exists; the
		// provider needs the resource URLs first.
		var verifier resourceserver.AccessTokenVerifier
		v := resourceserver.AccessTokenVerifierFunc(func(ctx context.Context, tok string) (*provider.AccessToken, error) {
			return verifier.VerifyAccessToken(ctx, tok)
		})
		r := newRS(t, v, []string{"files:read"})
		a := newAS(t, s, []string{r.mcpURL, r.other}, nil)
		verifier = verifierOf(a)
		_, viaIntrospection := verifier.(*resourceserver.IntrospectionVerifier)

		good := a.tokens("files:read", r.mcpURL)
		broad := a.tokens("files", r.mcpURL) // "files" satisfies "files:read" (scope hierarchy)
		admin := a.tokens("files:read admin", r.mcpURL)
		writer := a.tokens("files:write", r.mcpURL)
		forOther := a.tokens("files:read", r.other)
		noAudience := a.tokens("files:read", "")
		unredeemed, _ := a.code("files:read", r.mcpURL)
		revoked := a.tokens("files:read", r.mcpURL)
		a.revoke(revoked.AccessToken)

		// Another authorization server (other secret, same database): its tokens are not ours.
		otherAS := newAS(t, s, []string{r.mcpURL}, func(c *provider.Config) {
			c.GlobalSecret = []byte("another-servers-global-secret-0123456789")
		})
		foreign := otherAS.tokens("files:read", r.mcpURL)

		metadata, _ := resourceserver.MetadataURL(r.mcpURL)
		tests := []struct {
			name      string
			url       string
			token     string
			status    int
			wantError string
			wantScope string
		}{
			{"valid token", r.mcpURL, good.AccessToken, 200, "", ""},
			{"scope hierarchy: files satisfies files:read", r.mcpURL, broad.AccessToken, 200, "", ""},
			{"missing token", r.mcpURL, "", 401, "", "files:read"},
			{"garbage", r.mcpURL, "not-a-token", 401, "invalid_token", "files:read"},
			{"RFC 8707 token for another resource", r.mcpURL, forOther.AccessToken, 401, "invalid_token", "files:read"},
			{"RFC 8707 token without audience", r.mcpURL, noAudience.AccessToken, 401, "invalid_token", "files:read"},
			{"token for this resource at the other one", r.other, good.AccessToken, 401, "invalid_token", ""},
			{"refresh token as bearer", r.mcpURL, good.RefreshToken, 401, "invalid_token", "files:read"},
			{"authorization code as bearer", r.mcpURL, unredeemed, 401, "invalid_token", "files:read"},
			{"RFC 7009 revoked token", r.mcpURL, revoked.AccessToken, 401, "invalid_token", "files:read"},
			{"another issuer's token", r.mcpURL, foreign.AccessToken, 401, "invalid_token", "files:read"},
			{"insufficient scope", r.mcpURL, writer.AccessToken, 403, "insufficient_scope", "files:read"},
			{"step-up: route needs admin", r.mcpURL + "/admin", good.AccessToken, 403, "insufficient_scope", "files:read admin"},
			{"step-up: admin granted", r.mcpURL + "/admin", admin.AccessToken, 200, "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := call(t, tt.url, tt.token)
				if got.status != tt.status {
					t.Fatalf("status %d, want %d: %s", got.status, tt.status, got.raw)
				}
				if got.status == 200 {
					return
				}
				if got.challenge["error"] != tt.wantError || got.challenge["scope"] != tt.wantScope {
					t.Errorf("challenge %v, want error %q scope %q", got.challenge, tt.wantError, tt.wantScope)
				}
				if tt.url != r.other && got.challenge["resource_metadata"] != metadata {
					t.Errorf("resource_metadata %q, want %q", got.challenge["resource_metadata"], metadata)
				}
			})
		}

		// The verified identity reaches the handler.
		got := call(t, r.mcpURL, admin.AccessToken)
		id := got.token
		if id.Subject != "alice" || id.ClientID != a.ClientID(teststack.DefaultSubject) || !slices.Equal(id.Scopes, []string{"files:read", "admin"}) ||
			!slices.Equal(id.Audience, []string{r.mcpURL}) || time.Until(id.ExpiresAt) < 50*time.Minute || (id.GrantID == "") != viaIntrospection {
			t.Errorf("identity %+v", id)
		}
	})
}

// An expired token is invalid_token. The provider already refuses expired tokens; the
// second half pins the middleware's own expiry check (for verifiers that do not, such as a
// future local JWT verifier) by presenting a real token's identity with its expiry passed.
func TestRequireBearer_RFC6750_3_1_Expired(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	var verifier resourceserver.AccessTokenVerifier
	shift := time.Duration(0)
	v := resourceserver.AccessTokenVerifierFunc(func(ctx context.Context, tok string) (*provider.AccessToken, error) {
		at, err := verifier.VerifyAccessToken(ctx, tok)
		if err == nil {
			at.ExpiresAt = at.ExpiresAt.Add(shift)
		}
		return at, err
	})
	r := newRS(t, v, nil)
	const lifespan = time.Second
	a := newAS(t, s, []string{r.mcpURL}, func(c *provider.Config) { c.AccessTokenLifespan = lifespan })
	verifier = a.Provider
	tok := a.tokens("files:read", r.mcpURL)
	if got := call(t, r.mcpURL, tok.AccessToken); got.status != 200 {
		t.Fatalf("fresh token: %d %s", got.status, got.raw)
	}
	shift = -time.Hour
	if got := call(t, r.mcpURL, tok.AccessToken); got.status != 401 || got.challenge["error"] != "invalid_token" {
		t.Errorf("middleware expiry check: %d %v", got.status, got.challenge)
	}
	shift = 0
	at, err := a.Provider.VerifyAccessToken(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(at.ExpiresAt) + 100*time.Millisecond) // fosite rounds expiry to the second
	if _, err := a.Provider.VerifyAccessToken(context.Background(), tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
		t.Fatalf("provider accepted an expired token: %v", err)
	}
	if got := call(t, r.mcpURL, tok.AccessToken); got.status != 401 || got.challenge["error"] != "invalid_token" {
		t.Errorf("expired token: %d %v", got.status, got.challenge)
	}
}

// A closed database (the Store closed under a running server) is a storage outage, not a
// verdict on the token: 503 temporarily_unavailable with Retry-After, no challenge that
// would make clients discard a good token, nothing leaked, and the cause logged without the
// token. (Any other verifier failure is a 500: bearer_observe_test.go, "verifier fails".)
func TestRequireBearer_ClosedStorageIs503(t *testing.T) {
	s := gormtest.Open(t, gormtest.SQLite)
	var verifier resourceserver.AccessTokenVerifier
	logs := &strings.Builder{}
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	srv := httptest.NewUnstartedServer(nil)
	resource := "http://" + srv.Listener.Addr().String() + "/mcp"
	srv.Config.Handler = resourceserver.MustRequireBearer(resourceserver.AccessTokenVerifierFunc(func(ctx context.Context, tok string) (*provider.AccessToken, error) {
		return verifier.VerifyAccessToken(ctx, tok)
	}), resourceserver.BearerOptions{Resource: resource, Logger: logger})(identity)
	srv.Start()
	defer srv.Close()
	a := newAS(t, s, []string{resource}, nil)
	verifier = a.Provider
	tok := a.tokens("files:read", resource)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, resource, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("WWW-Authenticate") != "" || !strings.Contains(string(body), `"temporarily_unavailable"`) ||
		strings.Contains(string(body), tok.AccessToken) || strings.Contains(string(body), "sql") {
		t.Errorf("got %d %v %s", resp.StatusCode, resp.Header, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "storage unavailable") || strings.Contains(logs.String(), tok.AccessToken) {
		t.Errorf("log: %s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// RFC 6749 §3.3: RequireScopes returns an error (MustRequireScopes panics) for a scope
// that is not a scope token, instead of building middleware that can never be satisfied.
func TestRequireScopes_RFC6749_3_3_InvalidScopeTokenIsAnError(t *testing.T) {
	if mw, err := resourceserver.RequireScopes("admin", "bad scope"); err == nil || mw != nil {
		t.Fatalf("RequireScopes(bad) = (%v, %v), want (nil, error)", mw != nil, err)
	}
	if mw, err := resourceserver.RequireScopes("admin"); err != nil || mw == nil {
		t.Fatalf("RequireScopes(admin) = (%v, %v)", mw != nil, err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustRequireScopes(bad) did not panic")
		}
	}()
	resourceserver.MustRequireScopes("bad scope")
}
