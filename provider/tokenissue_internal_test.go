package provider

import (
	"context"
	"errors"
	"testing"
)

// TestTokenIssue_RefusesWhatItCannotCollect: while a token response collects its writes,
// the first code or token consumed, access token and refresh token are taken; a second
// one of a kind, a refresh token issued with another access token, and a deletion or
// revocation fail (they would otherwise run outside the response's atomic write); without
// a collecting response nothing is taken.
func TestTokenIssue_RefusesWhatItCannotCollect(t *testing.T) {
	ti := &tokenIssue{collecting: true}
	ctx := context.WithValue(context.Background(), tokenIssueKey{}, ti)
	check := func(what string, collected bool, err error, wantErr bool) {
		t.Helper()
		if !collected || (err != nil) != wantErr || (err != nil && !errors.Is(err, errUncollected)) {
			t.Errorf("%s: collected %v, error %v; want collected, error %v", what, collected, err, wantErr)
		}
	}
	ok, err := consume(ctx, "code", nil)
	check("the code", ok, err, false)
	ok, err = consume(ctx, "", &Rotation{RequestID: "r", Signature: "s"})
	check("a rotation after the code", ok, err, true)
	ok, err = issueAccess(ctx, "at", nil)
	check("the access token", ok, err, false)
	ok, err = issueAccess(ctx, "at-2", nil)
	check("a second access token", ok, err, true)
	ok, err = issueRefresh(ctx, "rt", "at-2", nil)
	check("a refresh token of another access token", ok, err, true)
	ok, err = issueRefresh(ctx, "rt", "at", nil)
	check("the refresh token", ok, err, false)
	if ti.iss.Code != "code" || ti.iss.Rotation != nil || ti.iss.AccessSignature != "at" || ti.iss.RefreshSignature != "rt" {
		t.Errorf("collected %+v", ti.iss)
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
