package idjag_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/provider"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestEnterpriseManagedAuthorization_Flow: extension §5: the ID-JAG is exchanged for an
// access token audience-restricted to its resource claim, with the intersection of the
// requested scopes and the ID-JAG's (§7.2.1), no refresh token by default; a go-sdk MCP
// client calls the MCP server with it as the IdP-namespaced local subject; the audit line
// names issuer, subject, client and resource and never the assertion.
func TestEnterpriseManagedAuthorization_Flow(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		assertion, err := e.idp.Issue(e.grant())
		if err != nil {
			t.Fatal(err)
		}
		tok := e.exchange(t, assertion, url.Values{"scope": {"read admin"}})
		if tok.status != 200 || tok.AccessToken == "" {
			t.Fatalf("token response %d %s", tok.status, tok.raw)
		}
		if tok.Scope != "read" || tok.RefreshToken != "" || !strings.EqualFold(tok.TokenType, "bearer") || tok.ExpiresIn <= 0 {
			t.Errorf("token response %s: want scope read (admin is not in the ID-JAG), no refresh token", tok.raw)
		}
		at, err := e.auth.VerifyAccessToken(t.Context(), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if len(at.Audience) != 1 || at.Audience[0] != e.resource || at.ClientID != e.public.ID {
			t.Errorf("token audience %v client %s", at.Audience, at.ClientID)
		}
		wantSub := "idp:" + url.QueryEscape(e.idp.Issuer) + "#alice"
		if at.Subject != wantSub {
			t.Errorf("subject %q, want %q", at.Subject, wantSub)
		}
		who, err := e.callWhoami(t, tok.AccessToken)
		if err != nil || who != wantSub {
			t.Fatalf("MCP call: %q, %v", who, err)
		}
		logs := e.logs.String()
		if strings.Contains(logs, assertion) || strings.Contains(logs, strings.Split(assertion, ".")[2]) {
			t.Error("the assertion reached the log")
		}
		if !strings.Contains(logs, `"msg":"id-jag accepted"`) || !strings.Contains(logs, `"subject":"alice"`) ||
			!strings.Contains(logs, `"resource":"`+e.resource+`"`) {
			t.Errorf("no audit line in %s", logs)
		}
	})
}

// TestEnterpriseManagedAuthorization_RegisteredClient: a client registered through RFC
// 7591 dynamic registration may list the jwt-bearer grant (mcp.New accepts it when
// ID-JAGs are on) and exchanges an ID-JAG issued to its client_id.
func TestEnterpriseManagedAuthorization_RegisteredClient(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{})
		body := `{"client_name":"DCR agent","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none",` +
			`"grant_types":["authorization_code","` + provider.GrantTypeJWTBearer + `"]}`
		resp, err := http.Post(e.issuer+mcp.RegistrationPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var reg struct {
			ClientID   string   `json:"client_id"`
			GrantTypes []string `json:"grant_types"`
		}
		err = json.NewDecoder(resp.Body).Decode(&reg)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated || !slices.Contains(reg.GrantTypes, provider.GrantTypeJWTBearer) {
			t.Fatalf("registration: %d %+v %v", resp.StatusCode, reg, err)
		}
		g := e.grant()
		g.ClientID = reg.ClientID
		a, err := e.idp.Issue(g)
		if err != nil {
			t.Fatal(err)
		}
		r := e.post(t, url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {a}, "client_id": {reg.ClientID}}, "", "")
		if r.status != 200 {
			t.Fatalf("exchange: %s", r.raw)
		}
	})
}

// TestEnterpriseManagedAuthorization_JWTAccessTokens: with RFC 9068 JWT access tokens the
// token issued for an ID-JAG carries the resource as aud and the namespaced subject, and
// the MCP server (verifying it locally) accepts it.
func TestEnterpriseManagedAuthorization_JWTAccessTokens(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{jwt: true})
		a, err := e.idp.Issue(e.grant())
		if err != nil {
			t.Fatal(err)
		}
		tok := e.exchange(t, a, nil)
		if tok.status != 200 || strings.Count(tok.AccessToken, ".") != 2 || tok.Scope != "read write" {
			t.Fatalf("token response %s", tok.raw)
		}
		at, err := e.auth.VerifyAccessToken(t.Context(), tok.AccessToken)
		if err != nil || len(at.Audience) != 1 || at.Audience[0] != e.resource {
			t.Fatalf("verified %+v, %v", at, err)
		}
		if who, err := e.callWhoami(t, tok.AccessToken); err != nil || who != at.Subject || !strings.HasPrefix(who, "idp:") {
			t.Fatalf("MCP call: %q, %v", who, err)
		}
	})
}

// TestEnterpriseManagedAuthorization_GrantRevocation: tokens from an ID-JAG belong to a
// grant like any other, listed for the user and revoked by RevokeAllGrants (the user)
// and RevokeClientGrants (a compromised client): the access token is refused and the
// refresh token no longer refreshes. Before, such tokens belonged to no grant and both
// calls found nothing (found by a security review).
func TestEnterpriseManagedAuthorization_GrantRevocation(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		e := newEnv(t, s, envOptions{refresh: true})
		p := e.auth.Provider()
		issue := func() (tokenResponse, string) {
			t.Helper()
			g := e.grant()
			g.ClientID = e.confidential.ID
			a, err := e.idp.Issue(g)
			if err != nil {
				t.Fatal(err)
			}
			r := e.post(t, url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "assertion": {a}}, e.confidential.ID, e.confidentialSecret)
			if r.status != 200 || r.RefreshToken == "" {
				t.Fatalf("exchange: %s", r.raw)
			}
			at, err := e.auth.VerifyAccessToken(t.Context(), r.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			return r, at.Subject
		}
		refused := func(r tokenResponse) {
			t.Helper()
			if _, err := e.auth.VerifyAccessToken(t.Context(), r.AccessToken); err == nil {
				t.Error("the access token still verifies")
			}
			rr := e.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}}, e.confidential.ID, e.confidentialSecret)
			if rr.status != 400 || rr.Error != "invalid_grant" {
				t.Errorf("refresh after revocation: %s, want invalid_grant", rr.raw)
			}
		}

		r, subject := issue()
		page, err := p.ListGrants(t.Context(), subject, nil)
		if err != nil || len(page.Grants) != 1 || page.Grants[0].ClientID != e.confidential.ID || !slices.Equal(page.Grants[0].Resources, []string{e.resource}) {
			t.Fatalf("grants of %s: %+v, %v", subject, page, err)
		}
		if n, err := p.RevokeAllGrants(t.Context(), subject); err != nil || n != 1 {
			t.Fatalf("RevokeAllGrants: %d, %v", n, err)
		}
		refused(r)

		r, _ = issue()
		if n, err := p.RevokeClientGrants(t.Context(), e.confidential.ID); err != nil || n != 1 {
			t.Fatalf("RevokeClientGrants: %d, %v", n, err)
		}
		refused(r)
	})
}
