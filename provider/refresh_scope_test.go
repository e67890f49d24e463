package provider_test

import (
	"net/http"
	"net/url"
	"testing"
)

// Issue 14 finding 9, RFC 6749 §6: a refresh ignored `scope`. A subset of the grant's
// scopes now narrows the new access token (and the response's scope), while the new
// refresh token keeps the grant's whole scope ("the refresh token scope MUST be identical
// to that of the refresh token included by the client in the request"), so the next
// refresh without `scope` gets every scope again.
func TestRFC6749_6_RefreshScopeSubsetNarrowsAccessToken(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(url.Values{"scope": {"read write"}})
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		resp, narrowed := e.refresh(tok.RefreshToken, url.Values{"scope": {"read"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh with scope=read: %d %+v", resp.StatusCode, narrowed)
		}
		if narrowed.Scope != "read" {
			t.Errorf("response scope %q, want read", narrowed.Scope)
		}
		if in := e.introspect(narrowed.AccessToken); !in.Active || in.Scope != "read" {
			t.Errorf("narrowed access token introspects as %+v, want scope read", in)
		}
		at, err := e.p.VerifyAccessToken(e.ctx(), narrowed.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if len(at.Scopes) != 1 || at.Scopes[0] != "read" {
			t.Errorf("VerifyAccessToken scopes %v, want [read]", at.Scopes)
		}

		resp, whole := e.refresh(narrowed.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh without scope: %d %+v", resp.StatusCode, whole)
		}
		if whole.Scope != "read write" {
			t.Errorf("refresh without scope after a narrowed one: scope %q, want the grant's \"read write\"", whole.Scope)
		}
		if in := e.introspect(whole.AccessToken); in.Scope != "read write" {
			t.Errorf("access token scope %q, want \"read write\"", in.Scope)
		}
		// An empty scope parameter means the grant's scope (RFC 6749 §6: omitted).
		if resp, again := e.refresh(whole.RefreshToken, url.Values{"scope": {""}}); resp.StatusCode != http.StatusOK || again.Scope != "read write" {
			t.Errorf("refresh with empty scope: %d scope %q", resp.StatusCode, again.Scope)
		}
	})
}

// Issue 14 finding 9, RFC 6749 §6: a scope beyond the grant was silently ignored. It is
// invalid_scope, refused before the refresh token is rotated: the same refresh token
// still works afterwards (and its reuse is not detected as a replay).
func TestRFC6749_6_RefreshScopeBeyondGrantInvalidScope(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(url.Values{"scope": {"read"}})
		for _, scope := range []string{"read write", "write", "admin"} {
			if resp, r := e.refresh(tok.RefreshToken, url.Values{"scope": {scope}}); resp.StatusCode != http.StatusBadRequest || r.Error != "invalid_scope" {
				t.Errorf("scope %q: %d %q, want 400 invalid_scope", scope, resp.StatusCode, r.Error)
			}
		}
		resp, next := e.refresh(tok.RefreshToken, url.Values{"scope": {"read"}})
		if resp.StatusCode != http.StatusOK || next.AccessToken == "" || next.Scope != "read" {
			t.Fatalf("the refresh token after refused scopes: %d %+v", resp.StatusCode, next)
		}
		if in := e.introspect(next.AccessToken); !in.Active || in.Scope != "read" {
			t.Errorf("introspection %+v", in)
		}
	})
}
