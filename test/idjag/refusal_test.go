package idjag_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/internal/testidp"
)

// TestEnterpriseManagedAuthorization_Refusals: one case per check of the extension §5.1
// and §7 (draft §4.4.1): each bad assertion or request gets the RFC 6749 §5.2 error
// named here with a description naming the check and never the assertion, and an audit
// line saying why; no case is a 500.
func TestEnterpriseManagedAuthorization_Refusals(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		stranger, err := testidp.New("https://untrusted-idp.example")
		if err != nil {
			t.Fatal(err)
		}
		must := func(s string, err error) string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		with := func(edit func(c map[string]any)) map[string]any {
			c := e.idp.Claims(e.grant())
			edit(c)
			return c
		}
		cases := []struct {
			name      string
			assertion func() string
			extra     url.Values
			code      string
			check     string // in error_description and the audit reason
		}{
			{"draft §3.1: typ is not oauth-id-jag+jwt", func() string {
				return must(e.idp.Sign(e.idp.Claims(e.grant()), testidp.Header{Typ: "JWT"}))
			}, nil, "invalid_grant", "typ is not oauth-id-jag+jwt"},
			{"extension §7.4.1: untrusted issuer", func() string {
				g := e.grant()
				return must(stranger.Issue(g))
			}, nil, "invalid_grant", "iss is not a trusted identity provider"},
			{"extension §7.6.2: aud is another authorization server", func() string {
				return must(e.idp.Sign(with(func(c map[string]any) { c["aud"] = "https://other-as.example" }), testidp.Header{}))
			}, nil, "invalid_grant", "aud is not this authorization server"},
			// draft §3.1: aud is the authorization server's issuer, one value: an assertion
			// also addressed to another server could be spent at both (a security review).
			{"draft §3.1: aud names this and another authorization server", func() string {
				return must(e.idp.Sign(with(func(c map[string]any) { c["aud"] = []string{"https://other-as.example", e.issuer} }), testidp.Header{}))
			}, nil, "invalid_grant", "aud is not this authorization server"},
			// OpenID Connect Core §2: a sub is at most 255 ASCII characters; a longer one was a
			// 500 on PostgreSQL once the grant was recorded (its subject is indexed).
			{"sub longer than 255 bytes", func() string {
				return must(e.idp.Sign(with(func(c map[string]any) { c["sub"] = strings.Repeat("s", 256) }), testidp.Header{}))
			}, nil, "invalid_grant", "sub is longer than 255 bytes"},
			{"extension §7.4.2: expired", func() string {
				return must(e.idp.Sign(with(func(c map[string]any) {
					c["iat"], c["exp"] = time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-8*time.Minute).Unix()
				}), testidp.Header{}))
			}, nil, "invalid_grant", "assertion expired"},
			{"draft §4.4.1: client_id is another client", func() string {
				return must(e.idp.Sign(with(func(c map[string]any) { c["client_id"] = e.confidential.ID }), testidp.Header{}))
			}, nil, "invalid_grant", "client_id does not match the authenticated client"},
			{"extension §7.6.2: resource is not ours", func() string {
				return must(e.idp.Sign(with(func(c map[string]any) { c["resource"] = "https://elsewhere.example/mcp" }), testidp.Header{}))
			}, nil, "invalid_grant", "resource is not a resource of this authorization server"},
			{"RFC 8707 §2.2: requested resource outside the resource claim", func() string {
				return must(e.idp.Issue(e.grant()))
			}, url.Values{"resource": {e.other}}, "invalid_target", "was not authorized for this grant"},
			{"extension §7.2.1: scope escalation beyond the ID-JAG", func() string {
				return must(e.idp.Issue(e.grant()))
			}, url.Values{"scope": {"admin"}}, "invalid_scope", "None of the requested scopes is granted by the assertion"},
			{"extension §7.4.1: alg none", func() string {
				return e.idp.Unsigned(e.idp.Claims(e.grant()))
			}, nil, "invalid_grant", "alg is not allowed"},
			{"key confusion: HS256 keyed with the IdP's public JWK", func() string {
				return e.idp.HS256WithPublicKey(e.idp.Claims(e.grant()), false)
			}, nil, "invalid_grant", "alg is not allowed"},
			{"key confusion: HS256 keyed with the IdP's public key DER", func() string {
				return e.idp.HS256WithPublicKey(e.idp.Claims(e.grant()), true)
			}, nil, "invalid_grant", "alg is not allowed"},
			{"key from another trusted IdP (its kid)", func() string {
				return must(e.idp2.Sign(e.idp.Claims(e.grant()), testidp.Header{}))
			}, nil, "invalid_grant", "kid is not a key of the identity provider"},
			{"key from another trusted IdP (the issuer's kid)", func() string {
				return must(e.idp2.Sign(e.idp.Claims(e.grant()), testidp.Header{KeyID: e.idp.KeyID}))
			}, nil, "invalid_grant", "signature does not verify"},
			{"RFC 7521 §4.1: not a JWS", func() string { return "not-a-jwt" }, nil, "invalid_grant", "not a compact JWS"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := tc.assertion()
				r := e.exchange(t, a, tc.extra)
				if r.status != 400 || r.Error != tc.code || !strings.Contains(r.ErrorDescription, tc.check) {
					t.Fatalf("got %d %s, want 400 %s naming %q", r.status, r.raw, tc.code, tc.check)
				}
				if strings.Contains(r.raw, a) {
					t.Error("the error echoes the assertion")
				}
				if logs := e.logs.String(); !strings.Contains(logs, `"msg":"id-jag refused"`) || !strings.Contains(logs, tc.check) {
					t.Errorf("no audit line naming %q", tc.check)
				}
			})
		}
	})
}

// TestEnterpriseManagedAuthorization_Replay: extension §7.4.2: a jti is single use until
// exp; a request refused for another reason (here invalid_target) does not burn it, since
// the jti is recorded after every other check.
func TestEnterpriseManagedAuthorization_Replay(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		a, err := e.idp.Issue(e.grant())
		if err != nil {
			t.Fatal(err)
		}
		if r := e.exchange(t, a, url.Values{"resource": {e.other}}); r.Error != "invalid_target" {
			t.Fatalf("narrowing outside the claim: %s", r.raw)
		}
		if r := e.exchange(t, a, url.Values{"resource": {e.resource}}); r.status != 200 {
			t.Fatalf("first use after a refused request: %s", r.raw)
		}
		r := e.exchange(t, a, nil)
		if r.Error != "invalid_grant" || !strings.Contains(r.ErrorDescription, "jti was already used") {
			t.Fatalf("replay: %s", r.raw)
		}
	})
}

// TestEnterpriseManagedAuthorization_ConfidentialClientAndRefresh: a confidential client
// authenticates with client_secret_basic as registered; a wrong secret is invalid_client
// before the assertion is looked at. With IssueRefreshTokens a client allowed the
// refresh_token grant gets a refresh token that refreshes to the same audience and scopes.
func TestEnterpriseManagedAuthorization_ConfidentialClientAndRefresh(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{refresh: true})
		g := e.grant()
		g.ClientID = e.confidential.ID
		a, err := e.idp.Issue(g)
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {a}}
		if r := e.post(t, form, e.confidential.ID, "wrong"); r.Error != "invalid_client" {
			t.Fatalf("wrong secret: %s", r.raw)
		}
		r := e.post(t, form, e.confidential.ID, e.confidentialSecret)
		if r.status != 200 || r.RefreshToken == "" || r.Scope != "read write" {
			t.Fatalf("confidential exchange: %s", r.raw)
		}
		rr := e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}}, e.confidential.ID, e.confidentialSecret)
		if rr.status != 200 || rr.Scope != "read write" {
			t.Fatalf("refresh: %s", rr.raw)
		}
		at, err := e.auth.VerifyAccessToken(t.Context(), rr.AccessToken)
		if err != nil || len(at.Audience) != 1 || at.Audience[0] != e.resource {
			t.Fatalf("refreshed token: %+v %v", at, err)
		}
		// The public client has no refresh_token grant: no refresh token even when enabled.
		pa, _ := e.idp.Issue(e.grant())
		if pr := e.exchange(t, pa, nil); pr.status != 200 || pr.RefreshToken != "" {
			t.Fatalf("public client: %s", pr.raw)
		}
	})
}

// TestEnterpriseManagedAuthorization_IdPKeysUnavailable: when a trusted IdP's JWKS cannot
// be fetched, the answer is 503 temporarily_unavailable (retryable), never a 500 nor an
// invalid_grant blaming the client.
func TestEnterpriseManagedAuthorization_IdPKeysUnavailable(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		e.closeIdP()
		a, err := e.idp.Issue(e.grant())
		if err != nil {
			t.Fatal(err)
		}
		if r := e.exchange(t, a, nil); r.status != 503 || r.Error != "temporarily_unavailable" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
}

// TestEnterpriseManagedAuthorization_ReplayAcrossReplicas: extension §7.4.2 with two
// replicas (two mcp.New servers on one database): one ID-JAG sent 16 times at once,
// alternately to each, yields exactly one token; the rest are invalid_grant.
func TestEnterpriseManagedAuthorization_ReplayAcrossReplicas(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		opts := gormtest.DefaultOptions(t)
		a := newEnv(t, db.Open(t, opts), envOptions{})
		b := newEnv(t, db.Open(t, opts), envOptions{replicaOf: a})
		assertion, err := a.idp.Issue(a.grant())
		if err != nil {
			t.Fatal(err)
		}
		const n = 16
		results := make(chan tokenResponse, n)
		var wg sync.WaitGroup
		for i := range n {
			replica := a
			if i%2 == 1 {
				replica = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- replica.exchange(t, assertion, nil)
			}()
		}
		wg.Wait()
		close(results)
		ok := 0
		for r := range results {
			switch {
			case r.status == 200:
				ok++
			case r.Error != "invalid_grant" || !strings.Contains(r.ErrorDescription, "jti was already used"):
				t.Errorf("a replay got %d %s", r.status, r.raw)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d exchanges succeeded, want exactly 1", ok, n)
		}
	})
}
