package provider

import (
	"context"
	"errors"
	"testing"
)

// TestCollector_RefusesWhatItCannotCollect: while a token response collects its writes,
// the first code or token consumed, access token and refresh token are taken; a second
// one of a kind, a refresh token issued with another access token, a code issued, and a
// deletion or revocation fail (they would otherwise run outside the response's atomic
// write); without a collecting response nothing is taken.
func TestCollector_RefusesWhatItCannotCollect(t *testing.T) {
	ti := &collector{token: &TokenIssue{}}
	ctx := collect(context.Background(), ti)
	ok, err := consume(ctx, "code", nil)
	checkCollected(t, "the code", ok, err, false)
	ok, err = consume(ctx, "", &Rotation{RequestID: "r", Signature: "s"})
	checkCollected(t, "a rotation after the code", ok, err, true)
	ok, err = issueAccess(ctx, "at", nil)
	checkCollected(t, "the access token", ok, err, false)
	ok, err = issueAccess(ctx, "at-2", nil)
	checkCollected(t, "a second access token", ok, err, true)
	ok, err = issueRefresh(ctx, "rt", "at-2", nil)
	checkCollected(t, "a refresh token of another access token", ok, err, true)
	ok, err = issueRefresh(ctx, "rt", "at", nil)
	checkCollected(t, "the refresh token", ok, err, false)
	ok, err = issueCodeSession(ctx, "ac", nil)
	checkCollected(t, "a code in a token response", ok, err, true)
	if ti.token.Code != "code" || ti.token.Rotation != nil || ti.token.AccessSignature != "at" || ti.token.RefreshSignature != "rt" {
		t.Errorf("collected %+v", ti.token)
	}
	s := fositeStore{}
	for name, err := range map[string]error{
		"DeleteAccessTokenSession":  s.DeleteAccessTokenSession(ctx, "at"),
		"DeleteRefreshTokenSession": s.DeleteRefreshTokenSession(ctx, "rt"),
		"RevokeRefreshToken":        s.RevokeRefreshToken(ctx, "r"),
		"RevokeAccessToken":         s.RevokeAccessToken(ctx, "r"),
	} {
		if !errors.Is(err, errUncollected) {
			t.Errorf("%s while collecting: %v; want errUncollected", name, err)
		}
	}

	ti.collecting = false
	if ok, err := consume(ctx, "code-2", nil); ok || err != nil {
		t.Errorf("consume after collecting: %v, %v; want not collected", ok, err)
	}
	if ok, err := issueAccess(context.Background(), "at", nil); ok || err != nil {
		t.Errorf("issueAccess without a token response: %v, %v; want not collected", ok, err)
	}
}

// TestCollector_Approval: while an approval collects its writes, its code and a PKCE
// request of its own are taken, once each; a token write, a second code, and a deletion or
// revocation fail.
func TestCollector_Approval(t *testing.T) {
	c := &collector{code: &CodeIssue{}}
	ctx := collect(context.Background(), c)
	ok, err := issueCodeSession(ctx, "ac", nil)
	checkCollected(t, "the code", ok, err, false)
	ok, err = issueCodeSession(ctx, "ac-2", nil)
	checkCollected(t, "a second code", ok, err, true)
	ok, err = issuePKCESession(ctx, "ac", nil)
	checkCollected(t, "the PKCE request", ok, err, false)
	ok, err = issuePKCESession(ctx, "ac-2", nil)
	checkCollected(t, "a second PKCE request", ok, err, true)
	ok, err = issueAccess(ctx, "at", nil)
	checkCollected(t, "an access token in an approval", ok, err, true)
	ok, err = consume(ctx, "ac", nil)
	checkCollected(t, "a code consumed in an approval", ok, err, true)
	if c.code.Signature != "ac" || c.code.PKCESignature != "ac" {
		t.Errorf("collected %+v", c.code)
	}
	if err := (fositeStore{}).RevokeAccessToken(ctx, "r"); !errors.Is(err, errUncollected) {
		t.Errorf("RevokeAccessToken while collecting: %v; want errUncollected", err)
	}
	c.collecting = false
	if ok, err := issueCodeSession(ctx, "ac-3", nil); ok || err != nil {
		t.Errorf("issueCodeSession after collecting: %v, %v; want not collected", ok, err)
	}
}

// checkCollected fails t unless a write was collected, with errUncollected when wantErr.
func checkCollected(t *testing.T, what string, collected bool, err error, wantErr bool) {
	t.Helper()
	if !collected || (err != nil) != wantErr || (err != nil && !errors.Is(err, errUncollected)) {
		t.Errorf("%s: collected %v, error %v; want collected, error %v", what, collected, err, wantErr)
	}
}
