package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// approvalWriteStore is a real Store that counts how the authorization endpoint writes
// approvals (at once with IssueCode, or write by write) and whose IssueCode fails as a
// storage outage does once down is set.
type approvalWriteStore struct {
	*gormstore.Store
	issues, writes atomic.Int64
	down           atomic.Bool
}

// IssueCode counts the approval and delegates to the Store, unless down.
func (s *approvalWriteStore) IssueCode(ctx context.Context, iss provider.CodeIssue) error {
	if s.down.Load() {
		return fmt.Errorf("test outage: %w", provider.ErrStorageUnavailable)
	}
	s.issues.Add(1)
	return s.Store.IssueCode(ctx, iss)
}

// CreateAuthorizeCodeSession counts the write and delegates to the Store.
func (s *approvalWriteStore) CreateAuthorizeCodeSession(ctx context.Context, sig string, req fosite.Requester) error {
	s.writes.Add(1)
	return s.Store.CreateAuthorizeCodeSession(ctx, sig, req)
}

// CreatePKCERequestSession counts the write and delegates to the Store.
func (s *approvalWriteStore) CreatePKCERequestSession(ctx context.Context, sig string, req fosite.Requester) error {
	s.writes.Add(1)
	return s.Store.CreatePKCERequestSession(ctx, sig, req)
}

// RecordGrant counts the write and delegates to the Store.
func (s *approvalWriteStore) RecordGrant(ctx context.Context, rec provider.GrantRecord) error {
	s.writes.Add(1)
	return s.Store.RecordGrant(ctx, rec)
}

// TestAuthorizeEndpoint_WritesEachApprovalInOneCall (RFC 6749 §4.1.2): an approval's
// code and grant are written in one storage call (IssueCode: one statement on PostgreSQL
// instead of a transaction of five round trips), and the code works as before: it is
// exchanged once, its grant is listed, and revoking the grant ends its tokens.
func TestAuthorizeEndpoint_WritesEachApprovalInOneCall(t *testing.T) {
	var as *approvalWriteStore
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		if i, w := as.issues.Load(), as.writes.Load(); i != 1 || w != 0 {
			t.Errorf("an approval made %d IssueCode calls and %d other writes; want 1, 0", i, w)
		}
		grants, _, err := e.store.ListGrants(t.Context(), provider.GrantFilter{Subject: testSubject}, "", 10)
		if err != nil || len(grants) != 1 {
			t.Fatalf("grants after the approval: %+v, %v; want one", grants, err)
		}
		if err := e.p.RevokeGrant(t.Context(), testSubject, grants[0].ID); err != nil {
			t.Fatal(err)
		}
		if in := e.introspect(tok.AccessToken); in.Active {
			t.Errorf("the access token of a revoked grant is active: %+v", in)
		}
	}, func(e *env, cfg *provider.Config) {
		as = &approvalWriteStore{Store: e.store}
		cfg.Storage = as
	})
}

// TestAuthorizeEndpoint_IssueCodeUnavailable: when the storage cannot write an approval,
// Approve reports the outage (ErrStorageUnavailable) and sends the browser back to the
// client with temporarily_unavailable (RFC 6749 §4.1.2.1), never with a code; once the
// storage is back, a new authorization request gets a working code.
func TestAuthorizeEndpoint_IssueCodeUnavailable(t *testing.T) {
	var as *approvalWriteStore
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50123/callback"
		q, _ := e.authorizeParams(redirect, nil)
		id, browser := e.pending(q)
		as.down.Store(true)
		u, err := e.p.Approve(browser, id, testSubject, []string{"read"})
		if !errors.Is(err, provider.ErrStorageUnavailable) {
			t.Errorf("Approve during the outage: %v; want ErrStorageUnavailable", err)
		}
		back, perr := url.Parse(u)
		if perr != nil || back.Query().Get("error") != "temporarily_unavailable" || back.Query().Get("code") != "" {
			t.Errorf("Approve during the outage sends the browser to %q; want the client's redirect URI with temporarily_unavailable", u)
		}
		as.down.Store(false)
		code, verifier := e.code(redirect, nil)
		if resp, got := e.exchange(code, verifier, redirect, nil); resp.StatusCode != 200 || got.AccessToken == "" {
			t.Errorf("a code after the outage: %d %+v", resp.StatusCode, got)
		}
	}, func(e *env, cfg *provider.Config) {
		as = &approvalWriteStore{Store: e.store}
		cfg.Storage = as
	}, withLogin())
}
