package gormstore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// approval is an approval by alice of client for scopes under requestID, for IssueCode.
func approval(client *provider.Client, requestID string, scopes ...string) *provider.GrantRecord {
	now := time.Now().UTC().Truncate(time.Second)
	return &provider.GrantRecord{RequestID: requestID, Subject: "alice", ClientID: client.ID,
		Resources: []string{"https://mcp.example/"}, Scopes: scopes, At: now, ExpiresAt: now.Add(5 * time.Minute)}
}

// codeState reports whether the code under sig is stored (and active).
func codeState(t *testing.T, s *gormstore.Store, sig string) bool {
	t.Helper()
	_, err := s.GetAuthorizeCodeSession(ctx(t), sig, nil)
	switch {
	case err == nil:
		return true
	case errors.Is(err, fosite.ErrNotFound):
		return false
	default:
		t.Fatalf("reading code %s: %v", sig, err)
		return false
	}
}

// TestIssueCode_CodeWithItsGrant (RFC 6749 §4.1.2): an approval stores its code and records
// its grant, linked, so that revoking the grant ends the code; an approval of the same
// grant adds its scopes; an approval whose code or grant cannot be written writes neither.
// On PostgreSQL this is one statement.
func TestIssueCode_CodeWithItsGrant(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		must(t, s.IssueCode(c, provider.CodeIssue{Signature: "code-1", Request: newRequest(client, "req-1", "code"),
			Grant: approval(client, "req-1", "read")}))
		must(t, s.IssueCode(c, provider.CodeIssue{Signature: "code-2", Request: newRequest(client, "req-2", "code"),
			Grant: approval(client, "req-2", "write", "read")}))
		if !codeState(t, s, "code-1") || !codeState(t, s, "code-2") {
			t.Fatal("the approvals' codes are not stored")
		}
		g, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"})
		must(t, err)
		if !slices.Equal(g.Scopes, []string{"read", "write"}) {
			t.Errorf("the grant's scopes %q; want [read write]", g.Scopes)
		}

		// The code's insert fails (its signature is taken): the grant is not touched.
		err = s.IssueCode(c, provider.CodeIssue{Signature: "code-1", Request: newRequest(client, "req-3", "code"),
			Grant: approval(client, "req-3", "admin")})
		if err == nil {
			t.Fatal("a second code under one signature was stored")
		}
		// The grant's write fails (its client does not exist): the code is not stored.
		orphan := approval(client, "req-4", "read")
		orphan.ClientID = "no-such-client"
		if err := s.IssueCode(c, provider.CodeIssue{Signature: "code-4", Request: newRequest(client, "req-4", "code"),
			Grant: orphan}); err == nil {
			t.Fatal("a grant of an unknown client was recorded")
		}
		if codeState(t, s, "code-4") {
			t.Error("the code of an approval whose grant failed is stored")
		}
		if g, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"}); err != nil || slices.Contains(g.Scopes, "admin") {
			t.Errorf("the grant after a failed approval: %+v, %v; want it without admin", g, err)
		}

		n, err := s.RevokeGrants(c, provider.GrantFilter{Subject: "alice"})
		if err != nil || n != 1 {
			t.Fatalf("RevokeGrants = %d, %v; want 1", n, err)
		}
		for _, sig := range []string{"code-1", "code-2"} {
			if _, err := s.GetAuthorizeCodeSession(c, sig, nil); err == nil {
				t.Errorf("code %s usable after its grant was revoked", sig)
			}
		}
	})
}

// TestIssueCode_WithoutGrantAndWithPKCE: an approval without a subject stores only its
// code; a PKCE request of its own is stored with it; in the caller's transaction, a
// rollback takes all of it back.
func TestIssueCode_WithoutGrantAndWithPKCE(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, randomString(t, "client-"))
		must(t, s.IssueCode(c, provider.CodeIssue{Signature: "code-1", Request: newRequest(client, "req-1", "code")}))
		if !codeState(t, s, "code-1") {
			t.Error("the code without a grant is not stored")
		}
		if _, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"}); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("a grant without an approval: %v; want not found", err)
		}

		must(t, s.IssueCode(c, provider.CodeIssue{Signature: "code-2", Request: newRequest(client, "req-2", "code"),
			PKCESignature: "code-2", PKCERequest: newRequest(client, "req-2", "pkce"), Grant: approval(client, "req-2", "read")}))
		if _, err := s.GetPKCERequestSession(c, "code-2", nil); err != nil || !codeState(t, s, "code-2") {
			t.Errorf("the code and PKCE request: %v", err)
		}

		tx, err := s.BeginTX(c)
		must(t, err)
		must(t, s.IssueCode(tx, provider.CodeIssue{Signature: "code-3", Request: newRequest(client, "req-3", "code"),
			Grant: approval(client, "req-3", "admin")}))
		must(t, s.Rollback(tx))
		if codeState(t, s, "code-3") {
			t.Error("the code of a rolled back approval is stored")
		}
		if g, err := s.GetGrant(c, "alice", client.ID, []string{"https://mcp.example/"}); err != nil || !slices.Equal(g.Scopes, []string{"read"}) {
			t.Errorf("the grant after a rolled back approval: %+v, %v; want scopes [read]", g, err)
		}
	})
}
