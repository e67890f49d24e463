package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// TestEndToEnd walks the whole life of a grant with golang.org/x/oauth2 as the client,
// over real HTTP, on SQLite and PostgreSQL: authorize → consent (AutoApprove, and the
// built-in login page driven by form posts with its CSRF token) → token → introspect →
// refresh (rotation) → reuse of the old refresh token detected (the family is revoked)
// → revoke.
func TestEndToEnd(t *testing.T) {
	t.Run("AutoApprove", func(t *testing.T) {
		runEnv(t, func(t *testing.T, e *env) { endToEnd(t, e, false) })
	})
	t.Run("BuiltInLogin", func(t *testing.T) {
		runEnv(t, func(t *testing.T, e *env) { endToEnd(t, e, true) }, withLogin())
	})
}

func endToEnd(t *testing.T, e *env, login bool) {
	ctx := context.Background()
	// Claude Code registers http://localhost/callback and listens on an ephemeral port.
	redirect := "http://localhost:53682/callback"
	conf := e.oauthConfig(redirect, "read", "write")
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-xyz", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", e.resource))

	resp := e.get(authURL)
	loc := location(t, resp)
	if login {
		loc = loginThroughPage(t, e, loc, bindingCookie(t, resp))
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		t.Fatalf("redirected to %s, want %s", loc, redirect)
	}
	q := loc.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("authorization response %s", loc)
	}
	if q.Get("state") != "state-xyz" || q.Get("iss") != e.issuer {
		t.Fatalf("state %q iss %q (RFC 9207), want state-xyz and %s", q.Get("state"), q.Get("iss"), e.issuer)
	}

	tok, err := conf.Exchange(e.ctx(), q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", e.resource))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ory_at_") || !strings.HasPrefix(tok.RefreshToken, "ory_rt_") {
		t.Fatalf("token formats: %.10q %.10q", tok.AccessToken, tok.RefreshToken)
	}
	if tok.Type() != "Bearer" || time.Until(tok.Expiry) < 50*time.Minute || time.Until(tok.Expiry) > 61*time.Minute {
		t.Fatalf("token type %q expiry %v", tok.Type(), tok.Expiry)
	}
	if s, _ := tok.Extra("scope").(string); s != "read write" {
		t.Fatalf("scope %q", s)
	}

	if c, err := e.store.LoadClient(ctx, e.public.ID); err != nil || time.Since(c.LastUsedAt) > time.Minute {
		t.Fatalf("client use not recorded: %v %v", c.LastUsedAt, err)
	}

	at, err := e.p.VerifyAccessToken(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("VerifyAccessToken: %v", err)
	}
	if at.Subject != testSubject || at.ClientID != e.public.ID || !slices.Equal(at.Scopes, []string{"read", "write"}) ||
		!slices.Equal(at.Audience, []string{e.resource}) || at.GrantID == "" || time.Until(at.ExpiresAt) < 50*time.Minute {
		t.Fatalf("access token %+v", at)
	}

	in := e.introspect(tok.AccessToken)
	if !in.Active || in.Sub != testSubject || in.ClientID != e.public.ID || in.Scope != "read write" ||
		!slices.Equal(in.Aud, []string{e.resource}) || in.Iss != e.issuer || in.TokenType != "Bearer" ||
		in.TokenUse != "access_token" || in.Exp != at.ExpiresAt.Unix() || in.Iat == 0 {
		t.Fatalf("introspection %+v", in)
	}
	if !e.refreshActive(tok.RefreshToken) {
		t.Fatal("refresh token not active")
	}

	// Refresh: rotation. go-sdk sends no resource on refresh: the audience is kept.
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Minute)
	tok2, err := conf.TokenSource(e.ctx(), &stale).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == tok.RefreshToken || tok2.RefreshToken == "" {
		t.Fatal("refresh did not rotate both tokens")
	}
	at2, err := e.p.VerifyAccessToken(ctx, tok2.AccessToken)
	if err != nil || !slices.Equal(at2.Audience, []string{e.resource}) || at2.GrantID != at.GrantID || at2.Subject != testSubject {
		t.Fatalf("refreshed access token %+v, %v", at2, err)
	}
	if _, err := e.p.VerifyAccessToken(ctx, tok.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
		t.Fatalf("the previous access token still works after rotation: %v", err)
	}

	// Reuse of the rotated refresh token: invalid_grant, and the whole family is revoked.
	_, err = conf.TokenSource(e.ctx(), &stale).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token: %v, want invalid_grant", err)
	}
	if _, err := e.p.VerifyAccessToken(ctx, tok2.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
		t.Fatalf("reuse detection left the new access token alive: %v", err)
	}
	if e.refreshActive(tok2.RefreshToken) {
		t.Fatal("reuse detection left the new refresh token alive")
	}
	tok2.Expiry = time.Now().Add(-time.Minute)
	if _, err := conf.TokenSource(e.ctx(), tok2).Token(); err == nil {
		t.Fatal("the new refresh token still works after reuse detection")
	}

	// Revocation of a fresh grant's refresh token kills its access token too.
	tok3 := e.tokens(nil)
	resp = e.postForm(e.issuer+"/revoke", url.Values{"token": {tok3.RefreshToken}, "client_id": {e.public.ID}}, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := e.p.VerifyAccessToken(ctx, tok3.AccessToken); !errors.Is(err, provider.ErrInvalidToken) {
		t.Fatalf("access token alive after revoking its refresh token: %v", err)
	}
	if resp, tr := e.refresh(tok3.RefreshToken, nil); resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Fatalf("revoked refresh token: %d %+v", resp.StatusCode, tr)
	}
}

// loginThroughPage drives the built-in login page like a browser without a cookie jar:
// it sends the browser-binding cookie the authorization endpoint set, reads the CSRF
// token, fails a login once, then approves.
func loginThroughPage(t *testing.T, e *env, loginURL *url.URL, cookie *http.Cookie) *url.URL {
	t.Helper()
	if !strings.HasPrefix(loginURL.String(), e.issuer+"/login?") || loginURL.Query().Get(provider.LoginRequestParam) == "" {
		t.Fatalf("not sent to the login page: %s", loginURL)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/oauth/login" || cookie.Secure {
		t.Fatalf("browser-binding cookie %+v: want HttpOnly, SameSite=Lax, Path=/oauth/login, not Secure over http", cookie)
	}
	id := loginURL.Query().Get(provider.LoginRequestParam)
	get, _ := http.NewRequest(http.MethodGet, loginURL.String(), nil)
	get.AddCookie(cookie)
	page := e.do(get)
	body, _ := io.ReadAll(page.Body)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("login page %d: %s", page.StatusCode, body)
	}
	checkPageHeaders(t, page)
	for _, want := range []string{"Public App", "localhost:53682", "<code>read</code>", "<code>write</code>", e.resource} {
		if !strings.Contains(string(body), want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in %s", body)
	}
	post := func(form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		return e.do(req)
	}
	form := url.Values{provider.LoginRequestParam: {id}, "csrf_token": {string(m[1])}, "action": {"approve"},
		"username": {testUser}, "password": {"wrong"}}
	if resp := post(form); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d", resp.StatusCode)
	}
	form.Set("password", testPassword)
	return location(t, post(form))
}

func checkPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page lacks frame-blocking headers: %v", resp.Header)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("page Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}
