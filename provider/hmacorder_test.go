package provider_test

import (
	"context"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// issueTime splits an opaque code or token ("ory_xx_KEY.HMAC") issued by the provider:
// the issue time its key starts with and the storage signature documented for it (the
// time in hex, a dot and the HMAC). It fails the test when the key is not 6 bytes of time
// and 32 random bytes.
func issueTime(t *testing.T, token, prefix string) (time.Time, string) {
	t.Helper()
	key, mac, ok := strings.Cut(strings.TrimPrefix(token, prefix), ".")
	if !ok || !strings.HasPrefix(token, prefix) {
		t.Fatalf("token %q is not %sKEY.HMAC", token, prefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || len(raw) != 38 {
		t.Fatalf("key of %q: %d bytes (%v), want 38", token, len(raw), err)
	}
	if mac, err := base64.RawURLEncoding.DecodeString(mac); err != nil || len(mac) != sha512.Size256 {
		t.Fatalf("HMAC of %q: %d bytes (%v)", token, len(mac), err)
	}
	return madeAt(raw), hex.EncodeToString(raw[:6]) + "." + mac
}

// madeAt is the time at the start of a time-ordered key or ID: its first 6 bytes,
// milliseconds since the Unix epoch, big-endian.
func madeAt(raw []byte) time.Time {
	var ms [8]byte
	copy(ms[2:], raw[:6])
	return time.UnixMilli(int64(binary.BigEndian.Uint64(ms[:])))
}

// TestTokens_KeysInIssueOrder: the codes and tokens the provider issues carry their issue
// time at the start of their key, and their storage signature starts with it in hex, so
// that SignatureIssueOrder sorts them by issue time; the storage finds them under that
// signature.
func TestTokens_KeysInIssueOrder(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		before := time.Now().Truncate(time.Millisecond)
		redirect := "http://localhost:50123/callback"
		code, verifier := e.code(redirect, nil)
		resp, tok := e.exchange(code, verifier, redirect, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token: %d %+v", resp.StatusCode, tok)
		}
		time.Sleep(2 * time.Millisecond)
		resp, next := e.refresh(tok.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
		}
		after := time.Now()

		var last string
		for _, c := range []struct{ name, token, prefix string }{
			{"code", code, "ory_ac_"},
			{"access token", tok.AccessToken, "ory_at_"},
			{"refresh token", tok.RefreshToken, "ory_rt_"},
			{"refreshed access token", next.AccessToken, "ory_at_"},
			{"refreshed refresh token", next.RefreshToken, "ory_rt_"},
		} {
			at, sig := issueTime(t, c.token, c.prefix)
			if at.Before(before) || at.After(after) {
				t.Errorf("%s issued at %v, outside [%v, %v]", c.name, at, before, after)
			}
			order := provider.SignatureIssueOrder(sig)
			if order != sig[:13] {
				t.Errorf("%s: SignatureIssueOrder(%q) = %q", c.name, sig, order)
			}
			if order < last {
				t.Errorf("%s: order %q sorts before the token issued earlier (%q)", c.name, order, last)
			}
			last = order
		}
		// A token with more than KEY.HMAC has no storage signature, as with fosite's.
		if sig := provider.StorageSignature(e.p, next.RefreshToken+".x"); sig != "" {
			t.Errorf("signature of KEY.HMAC.x: %q, want none", sig)
		}
		// The storage signature is the one documented above: the store finds the live
		// tokens under it, and the consumed code as inactive.
		_, sig := issueTime(t, next.RefreshToken, "ory_rt_")
		if _, err := e.store.GetRefreshTokenSession(ctx, sig, provider.NewSession("")); err != nil {
			t.Errorf("refresh token under its signature: %v", err)
		}
		_, sig = issueTime(t, next.AccessToken, "ory_at_")
		if _, err := e.store.GetAccessTokenSession(ctx, sig, provider.NewSession("")); err != nil {
			t.Errorf("access token under its signature: %v", err)
		}
		_, sig = issueTime(t, code, "ory_ac_")
		if _, err := e.store.GetAuthorizeCodeSession(ctx, sig, provider.NewSession("")); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Errorf("redeemed code under its signature: %v, want ErrInvalidatedAuthorizeCode", err)
		}
	})
}

// TestTokens_IssuedBeforeOrderedKeysStayValid pins the upgrade: tokens of fosite's own
// HMAC format (keys of 32 random bytes, stored under their plain HMAC), as the provider
// issued them before their keys carried the issue time, are still verified, introspected,
// refreshed once (a second use is refused), and the access token is revoked by the
// refresh.
func TestTokens_IssuedBeforeOrderedKeysStayValid(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tok := e.tokens(nil)
		_, sig := issueTime(t, tok.RefreshToken, "ory_rt_")
		req, err := e.store.GetRefreshTokenSession(ctx, sig, provider.NewSession(""))
		if err != nil {
			t.Fatal(err)
		}
		// The grant's tokens as fosite's strategy minted them, stored under its signatures.
		old := provider.FositeHMAC(e.p)
		at, atSig, err := old.GenerateAccessToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		rt, rtSig, err := old.GenerateRefreshToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if provider.SignatureIssueOrder(atSig) != "" || provider.SignatureIssueOrder(rtSig) != "" {
			t.Fatalf("fosite's signatures %q, %q have an issue order", atSig, rtSig)
		}
		if err := e.store.CreateAccessTokenSession(ctx, atSig, req); err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateRefreshTokenSession(ctx, rtSig, atSig, req); err != nil {
			t.Fatal(err)
		}

		got, err := e.p.VerifyAccessToken(ctx, at)
		if err != nil || got.Subject != testSubject {
			t.Fatalf("VerifyAccessToken(fosite's token) = %+v, %v", got, err)
		}
		if in := e.introspect(at); !in.Active || in.Sub != testSubject {
			t.Errorf("introspection of fosite's access token: %+v", in)
		}
		resp, next := e.refresh(rt, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh with fosite's token: %d %+v", resp.StatusCode, next)
		}
		issueTime(t, next.RefreshToken, "ory_rt_") // the new ones are ordered
		if resp, r := e.refresh(rt, nil); resp.StatusCode != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Errorf("fosite's refresh token used again: %d %q, want 400 invalid_grant", resp.StatusCode, r.Error)
		}
		if _, err := e.p.VerifyAccessToken(ctx, at); !errors.Is(err, provider.ErrInvalidToken) {
			t.Errorf("fosite's access token after its grant's refresh: %v, want ErrInvalidToken", err)
		}
	})
}

// TestSignatureIssueOrder: the order is the first 13 characters of a signature that
// starts with 12 lowercase hex digits and a dot and has more after them; anything else has
// none.
func TestSignatureIssueOrder(t *testing.T) {
	for sig, want := range map[string]string{
		"0193a1b2c3d4.abc":  "0193a1b2c3d4.",
		"ffffffffffff.x":    "ffffffffffff.",
		"0193a1b2c3d4.":     "",
		"0193A1B2C3D4.abc":  "",
		"0193a1b2c3d.abc":   "",
		"0193a1b2c3d4abc":   "",
		"0193a1b2c3dg.abc":  "",
		"":                  "",
		"yHd0aY6_x-M1Q2abc": "",
	} {
		if got := provider.SignatureIssueOrder(sig); got != want {
			t.Errorf("SignatureIssueOrder(%q) = %q, want %q", sig, got, want)
		}
	}
}

// TestGrantRequestIDs_InIssueOrder: the request ID a login's code and tokens share
// (AccessToken.GrantID) is the code's issue time and 128 random bits in base32hex, so a
// later login's sorts after an earlier one's; a refresh keeps it.
func TestGrantRequestIDs_InIssueOrder(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var ids []string
		var tok tokenResponse
		for range 2 {
			before := time.Now().Truncate(time.Millisecond)
			tok = e.tokens(nil)
			at, err := e.p.VerifyAccessToken(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString(at.GrantID)
			if err != nil || len(raw) != 22 {
				t.Fatalf("request ID %q is not 22 bytes of base32hex: %v", at.GrantID, err)
			}
			if made := madeAt(raw); made.Before(before) || made.After(time.Now()) {
				t.Errorf("request ID %q made at %v, outside the login", at.GrantID, made)
			}
			ids = append(ids, at.GrantID)
			time.Sleep(2 * time.Millisecond)
		}
		if ids[1] <= ids[0] {
			t.Errorf("request IDs %q: the later login's sorts first", ids)
		}
		resp, next := e.refresh(tok.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
		}
		if at, err := e.p.VerifyAccessToken(ctx, next.AccessToken); err != nil || at.GrantID != ids[1] {
			t.Errorf("refreshed access token: %+v, %v; want request ID %q", at, err, ids[1])
		}
	})
}
