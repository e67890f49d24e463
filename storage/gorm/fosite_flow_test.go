package gormstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// fositeFlow drives fosite's real handlers, composed on the store, in process: the storage
// calls, their order and their transactions are exactly fosite's.
type fositeFlow struct {
	oauth  fosite.OAuth2Provider
	store  *gormstore.Store
	client *provider.Client
	secret string
	marker string
}

const flowRedirect = "https://app.example/cb"

func newFositeFlow(t *testing.T, s *gormstore.Store) *fositeFlow {
	t.Helper()
	secret, hash, err := provider.GenerateSecret()
	must(t, err)
	cl := &provider.Client{
		ID:                      "flow-client",
		SecretHash:              hash,
		TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		RedirectURIs:            []string{flowRedirect},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"read", "offline_access"},
	}
	must(t, s.CreateClient(ctx(t), cl))
	cfg := &fosite.Config{
		GlobalSecret:          []byte(randomString(t, "")),
		EnforcePKCE:           true,
		RefreshTokenScopes:    []string{},
		ClientSecretsHasher:   provider.SecretHasher{},
		ScopeStrategy:         fosite.ExactScopeStrategy,
		AccessTokenLifespan:   time.Hour,
		RefreshTokenLifespan:  14 * 24 * time.Hour,
		AuthorizeCodeLifespan: 5 * time.Minute,
	}
	oauth := compose.Compose(cfg, s, compose.NewOAuth2HMACStrategy(cfg),
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)
	return &fositeFlow{oauth: oauth, store: s, client: cl, secret: secret, marker: randomString(t, "MARKER-")}
}

// authorize runs the authorization endpoint and returns the code and the PKCE verifier.
func (f *fositeFlow) authorize(t *testing.T) (code, verifier string) {
	t.Helper()
	verifier = randomString(t, "verifier-") + randomString(t, "")
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {f.client.ID},
		"redirect_uri":          {flowRedirect},
		"scope":                 {"read offline_access"},
		"state":                 {"state-123456"},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	c := ctx(t)
	ar, err := f.oauth.NewAuthorizeRequest(c, httptest.NewRequest(http.MethodGet, "https://as.example/authorize?"+q.Encode(), nil))
	if err != nil {
		t.Fatalf("NewAuthorizeRequest: %v", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
	}
	ar.GrantScope("read")
	ar.GrantScope("offline_access")
	sess := &fosite.DefaultSession{Subject: "alice", Extra: map[string]any{"marker": f.marker}}
	resp, err := f.oauth.NewAuthorizeResponse(c, ar, sess)
	if err != nil {
		t.Fatalf("NewAuthorizeResponse: %v", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
	}
	return resp.GetParameters().Get("code"), verifier
}

// token runs the token endpoint with form and returns the access and refresh tokens.
func (f *fositeFlow) token(c context.Context, form url.Values) (access, refresh string, err error) {
	r := httptest.NewRequest(http.MethodPost, "https://as.example/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(f.client.ID), url.QueryEscape(f.secret))
	ar, err := f.oauth.NewAccessRequest(c, r, &fosite.DefaultSession{})
	if err != nil {
		return "", "", err
	}
	resp, err := f.oauth.NewAccessResponse(c, ar)
	if err != nil {
		return "", "", err
	}
	rt, _ := resp.GetExtra("refresh_token").(string)
	return resp.GetAccessToken(), rt, nil
}

func (f *fositeFlow) exchange(c context.Context, code, verifier string) (string, string, error) {
	return f.token(c, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {flowRedirect}, "code_verifier": {verifier}})
}

func (f *fositeFlow) refresh(c context.Context, rt string) (string, string, error) {
	return f.token(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// active reports whether introspection finds token active.
func (f *fositeFlow) active(t *testing.T, token string, use fosite.TokenUse) bool {
	t.Helper()
	_, _, err := f.oauth.IntrospectToken(ctx(t), token, use, &fosite.DefaultSession{})
	return err == nil
}

func rfcError(err error) string {
	if err == nil {
		return "<nil>"
	}
	e := fosite.ErrorToRFC6749Error(err)
	return e.ErrorField + ": " + e.WithExposeDebug(true).GetDescription()
}

// TestFositeFlow_CodeRedeemedOnceAndReplayRevokes pins RFC 6749 §4.1.2 end to end through
// fosite: 20 concurrent token requests for one code yield exactly one token response; a later
// replay is refused and revokes what the code issued.
func TestFositeFlow_CodeRedeemedOnceAndReplayRevokes(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		f := newFositeFlow(t, s)
		c := ctx(t)
		code, verifier := f.authorize(t)

		type result struct{ at, rt string }
		results := make([]result, racers)
		errs := race(func(i int) error {
			at, rt, err := f.exchange(c, code, verifier)
			results[i] = result{at, rt}
			return err
		})
		var won *result
		replays := 0
		for i, err := range errs {
			switch {
			case err == nil:
				if won != nil {
					t.Errorf("two token responses for one code")
				}
				won = &results[i]
			case errors.Is(err, fosite.ErrInvalidGrant):
				// Arrived after the winner consumed the PKCE session (not found) or committed
				// (a replay, which revokes the winner's tokens).
				replays++
			case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
				// Lost the conditional write inside the transaction. fosite reports this as
				// server_error; the provider layer maps it to invalid_grant.
			default:
				t.Errorf("redemption %d: %s", i, rfcError(err))
			}
		}
		if won == nil {
			t.Fatalf("no redemption succeeded: %s", rfcError(errs[0]))
		}
		if won.rt == "" {
			t.Fatal("no refresh token issued")
		}
		t.Logf("%d of %d losing redemptions got invalid_grant", replays, racers-1)
		if replays == 0 && !f.active(t, won.at, fosite.AccessToken) {
			t.Fatal("issued access token is not active")
		}

		_, _, err := f.exchange(c, code, verifier)
		if !errors.Is(err, fosite.ErrInvalidGrant) {
			t.Fatalf("replay = %s; want invalid_grant", rfcError(err))
		}
		if f.active(t, won.at, fosite.AccessToken) {
			t.Error("access token still active after code replay")
		}
		if _, _, err := f.refresh(c, won.rt); err == nil {
			t.Error("refresh token still usable after code replay")
		}
	})
}

// TestFositeFlow_RefreshRotatedOnceAndReuseRevokesFamily pins OAuth 2.1 §4.3.1 strict rotation
// and RFC 6819 §5.2.2.3 reuse detection end to end through fosite.
func TestFositeFlow_RefreshRotatedOnceAndReuseRevokesFamily(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		f := newFositeFlow(t, s)
		c := ctx(t)
		code, verifier := f.authorize(t)
		at0, rt0, err := f.exchange(c, code, verifier)
		if err != nil {
			t.Fatalf("exchange: %s", rfcError(err))
		}

		type result struct{ at, rt string }
		results := make([]result, racers)
		errs := race(func(i int) error {
			at, rt, err := f.refresh(c, rt0)
			results[i] = result{at, rt}
			return err
		})
		var won *result
		reuses := 0
		for i, err := range errs {
			switch {
			case err == nil:
				if won != nil {
					t.Errorf("two successful refreshes of one token")
				}
				won = &results[i]
			case errors.Is(err, fosite.ErrInvalidGrant):
				// Presented the token after the winner's rotation committed: reuse detection,
				// which revokes the family (strict rotation without a grace window).
				reuses++
			case errors.Is(err, fosite.ErrInvalidRequest):
				// Lost the rotation's conditional write: "retry" (ErrSerializationFailure).
			default:
				t.Errorf("refresh %d: %s; want success, invalid_grant or invalid_request", i, rfcError(err))
			}
		}
		if won == nil {
			t.Fatalf("no refresh succeeded: %s", rfcError(errs[0]))
		}
		t.Logf("%d of %d concurrent refreshes were seen as reuse", reuses, racers-1)
		if f.active(t, at0, fosite.AccessToken) {
			t.Error("the grant's previous access token is still active after rotation")
		}
		if reuses == 0 && (!f.active(t, won.at, fosite.AccessToken) || !f.active(t, won.rt, fosite.RefreshToken)) {
			t.Fatal("rotated tokens are not active")
		}

		// Reuse of the rotated token: refused, and the whole family is revoked.
		if _, _, err := f.refresh(c, rt0); !errors.Is(err, fosite.ErrInvalidGrant) {
			t.Fatalf("reuse = %s; want invalid_grant", rfcError(err))
		}
		if f.active(t, won.at, fosite.AccessToken) {
			t.Error("access token still active after reuse detection")
		}
		if _, _, err := f.refresh(c, won.rt); err == nil {
			t.Error("current refresh token still usable after reuse detection")
		}
	})
}

// TestFositeFlow_RevocationOfRefreshTokenKillsAccessTokens pins RFC 7009 §2.1: revoking a
// refresh token also invalidates the access tokens of the same grant.
func TestFositeFlow_RevocationOfRefreshTokenKillsAccessTokens(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		f := newFositeFlow(t, s)
		c := ctx(t)
		code, verifier := f.authorize(t)
		at, rt, err := f.exchange(c, code, verifier)
		if err != nil {
			t.Fatalf("exchange: %s", rfcError(err))
		}
		form := url.Values{"token": {rt}, "token_type_hint": {"access_token"}}
		r := httptest.NewRequest(http.MethodPost, "https://as.example/revoke", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(f.client.ID, f.secret)
		if err := f.oauth.NewRevocationRequest(c, r); err != nil {
			t.Fatalf("revocation: %s", rfcError(err))
		}
		if f.active(t, at, fosite.AccessToken) || f.active(t, rt, fosite.RefreshToken) {
			t.Error("tokens still active after revoking the refresh token")
		}
		// Revoking again is fine (RFC 7009 §2.2: invalid tokens get 200).
		r = httptest.NewRequest(http.MethodPost, "https://as.example/revoke", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(f.client.ID, f.secret)
		if err := f.oauth.NewRevocationRequest(c, r); err != nil {
			t.Errorf("second revocation: %s", rfcError(err))
		}
	})
}
