package provider_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestSessionCloneIsDeep pins fosite.Session's Clone contract: fosite keeps the original
// of a session it clones (the refresh handler, Requester.Sanitize), so no change to the
// copy's expiry times or extra claims, however nested, may reach the original.
func TestSessionCloneIsDeep(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	orig, want := cloneTestSession(exp), cloneTestSession(exp)
	cp, ok := orig.Clone().(*provider.Session)
	if !ok || !reflect.DeepEqual(cp, want) {
		t.Fatalf("Clone = %#v; want %#v", cp, want)
	}
	cp.Subject = "mallory"
	cp.SetExpiresAt(fosite.AccessToken, exp.Add(time.Hour))
	cp.SetExpiresAt(fosite.RefreshToken, exp)
	cp.Extra["org"] = "evil"
	cp.Extra["roles"].([]interface{})[1].(map[string]interface{})["k"] = "changed"
	cp.Extra["tags"].([]string)[0] = "y"
	cp.Extra["nest"].(map[string]interface{})["deep"].([]interface{})[0] = "2"
	if !reflect.DeepEqual(orig, want) {
		t.Errorf("changing the clone changed the original: %#v", orig)
	}

	// JWT scratch space is copied too.
	orig.GetJWTClaims().(*jwt.JWTClaims).Add("scope", "read")
	cp = orig.Clone().(*provider.Session)
	cp.JWTClaims.Add("scope", "write")
	if got := orig.JWTClaims.Extra["scope"]; got != "read" {
		t.Errorf("original JWT claim scope = %v after changing the clone's", got)
	}
	var nilSession *provider.Session
	if nilSession.Clone() != nil {
		t.Error("Clone of a nil *Session is not nil")
	}
}

// cloneTestSession returns a new session with expiry times and nested extra claims.
func cloneTestSession(exp time.Time) *provider.Session {
	s := provider.NewSession("alice")
	s.SetExpiresAt(fosite.AccessToken, exp)
	s.Extra = map[string]interface{}{
		"org":   "acme",
		"n":     float64(3),
		"roles": []interface{}{"a", map[string]interface{}{"k": "v"}},
		"tags":  []string{"x"},
		"nest":  map[string]interface{}{"deep": []interface{}{"1"}},
	}
	return s
}

// cloneTestClient returns a new client with lists, an empty one and a secret hash.
func cloneTestClient() *provider.Client {
	return &provider.Client{
		ID:            "c",
		RedirectURIs:  []string{"https://a.example/cb"},
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{},
		Scopes:        []string{"read"},
		SecretHash:    []byte{1, 2},
	}
}

// TestClientCloneListsDoNotShare pins Client.Clone's promise that the caller may modify
// the copy: appending to one of the copy's lists (they share one backing array) must
// change neither the copy's other lists nor the original's.
func TestClientCloneListsDoNotShare(t *testing.T) {
	orig := cloneTestClient()
	cp := orig.Clone()
	if !reflect.DeepEqual(cp, orig) {
		t.Fatalf("Clone = %#v; want %#v", cp, orig)
	}
	cp.RedirectURIs = append(cp.RedirectURIs, "https://evil.example/cb")
	cp.GrantTypes[0] = "client_credentials"
	cp.ResponseTypes = append(cp.ResponseTypes, "token")
	cp.SecretHash[0] = 9
	if !reflect.DeepEqual(cp.Scopes, []string{"read"}) || cp.GrantTypes[1] != "refresh_token" {
		t.Errorf("appending to the copy's redirect URIs changed its other lists: %#v", cp)
	}
	want := cloneTestClient()
	if !reflect.DeepEqual(orig, want) {
		t.Errorf("changing the copy changed the original: %#v", orig)
	}
}
