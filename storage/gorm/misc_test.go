package gormstore_test

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// ---- pending authorizations (consent handoff) ----

func TestPendingAuthorization_SingleUseAndExpiry(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		mustCreateClient(t, s, "client")
		now := time.Now().UTC().Truncate(time.Microsecond)
		want := &provider.PendingAuthorization{
			ClientID:  "client",
			Form:      url.Values{"scope": {"read"}, "state": {"xyz-state"}, "resource": {"https://mcp.example/"}},
			CreatedAt: now,
			ExpiresAt: now.Add(10 * time.Minute),
		}
		must(t, s.CreatePendingAuthorization(c, "pending-1", want))

		got, err := s.GetPendingAuthorization(c, "pending-1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Get (-want +got):\n%s", d)
		}
		if _, err := s.GetPendingAuthorization(c, "pending-1"); err != nil {
			t.Errorf("Get does not consume: second Get = %v", err)
		}
		got, err = s.ConsumePendingAuthorization(c, "pending-1")
		if err != nil {
			t.Fatalf("Consume: %v", err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Consume (-want +got):\n%s", d)
		}
		if _, err := s.ConsumePendingAuthorization(c, "pending-1"); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("second Consume = %v; want ErrNotFound", err)
		}
		if _, err := s.GetPendingAuthorization(c, "pending-1"); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("Get after Consume = %v; want ErrNotFound", err)
		}

		t.Run("expired is not returned", func(t *testing.T) {
			must(t, s.CreatePendingAuthorization(c, "expired", &provider.PendingAuthorization{
				ClientID: "client", Form: url.Values{}, ExpiresAt: time.Now().Add(-time.Second)}))
			if _, err := s.GetPendingAuthorization(c, "expired"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("Get expired = %v; want ErrNotFound", err)
			}
			if _, err := s.ConsumePendingAuthorization(c, "expired"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("Consume expired = %v; want ErrNotFound", err)
			}
		})
		t.Run("unknown → ErrNotFound", func(t *testing.T) {
			if _, err := s.GetPendingAuthorization(c, "nope"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("Get = %v", err)
			}
			if _, err := s.ConsumePendingAuthorization(c, "nope"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("Consume = %v", err)
			}
		})
		t.Run("expiry follows Options.Now", func(t *testing.T) {
			// A second store on the same database whose clock is 11 minutes ahead.
			db := gormtest.NewDatabase(t, s.Dialect())
			opts := gormtest.DefaultOptions(t)
			early := db.Open(t, opts)
			opts.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
			late := db.Open(t, opts)
			mustCreateClient(t, early, "client")
			must(t, early.CreatePendingAuthorization(c, "p", &provider.PendingAuthorization{
				ClientID: "client", Form: url.Values{}, ExpiresAt: time.Now().Add(10 * time.Minute)}))
			if _, err := late.ConsumePendingAuthorization(c, "p"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("Consume with a clock past expiry = %v; want ErrNotFound", err)
			}
			if _, err := early.ConsumePendingAuthorization(c, "p"); err != nil {
				t.Errorf("Consume before expiry = %v", err)
			}
		})
		t.Run("duplicate ID → ErrSerializationFailure", func(t *testing.T) {
			p := &provider.PendingAuthorization{ClientID: "client", ExpiresAt: time.Now().Add(time.Minute)}
			must(t, s.CreatePendingAuthorization(c, "dup", p))
			if err := s.CreatePendingAuthorization(c, "dup", p); !errors.Is(err, fosite.ErrSerializationFailure) {
				t.Errorf("duplicate = %v", err)
			}
		})
	})
}

// ---- JWT assertion replay (RFC 7523 §3 item 7) ----

func TestClientAssertionJTI_ReplayDetected(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		if err := s.ClientAssertionJWTValid(c, "jti-1"); err != nil {
			t.Fatalf("unknown jti: %v; want nil", err)
		}
		must(t, s.SetClientAssertionJWT(c, "jti-1", time.Now().Add(time.Hour)))
		if err := s.ClientAssertionJWTValid(c, "jti-1"); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Errorf("recorded jti: %v; want ErrJTIKnown", err)
		}
		if err := s.SetClientAssertionJWT(c, "jti-1", time.Now().Add(time.Hour)); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Errorf("recording it again: %v; want ErrJTIKnown", err)
		}
		// An expired record does not block, and is replaced.
		must(t, s.SetClientAssertionJWT(c, "jti-2", time.Now().Add(-time.Minute)))
		if err := s.ClientAssertionJWTValid(c, "jti-2"); err != nil {
			t.Errorf("expired jti: %v; want nil", err)
		}
		must(t, s.SetClientAssertionJWT(c, "jti-2", time.Now().Add(time.Hour)))
		if err := s.ClientAssertionJWTValid(c, "jti-2"); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Errorf("re-recorded jti: %v; want ErrJTIKnown", err)
		}
	})
}

// ---- Purge ----

func TestPurge_DeletesExpiredRowsInBatches(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		past := time.Now().Add(-time.Hour)
		expired := func(id string) *fosite.Request {
			r := newRequest(cl, id, "m")
			sess := r.Session.(*fosite.DefaultSession)
			sess.SetExpiresAt(fosite.AuthorizeCode, past)
			sess.SetExpiresAt(fosite.AccessToken, past)
			sess.SetExpiresAt(fosite.RefreshToken, past)
			return r
		}
		live := newRequest(cl, "live", "m")
		forever := newRequest(cl, "forever", "m")
		delete(forever.Session.(*fosite.DefaultSession).ExpiresAt, fosite.RefreshToken)

		// 1,200 expired access tokens: more than one batch.
		const many = 1200
		tx, err := s.BeginTX(c)
		must(t, err)
		for i := range many {
			must(t, s.CreateAccessTokenSession(tx, fmt.Sprintf("old-at-%d", i), expired("old")))
		}
		must(t, s.Commit(tx))
		must(t, s.CreateAuthorizeCodeSession(c, "old-code", expired("old")))
		must(t, s.CreatePKCERequestSession(c, "old-code", expired("old")))
		must(t, s.CreateRefreshTokenSession(c, "old-rt", "", expired("old")))
		must(t, s.CreatePendingAuthorization(c, "old-pa", &provider.PendingAuthorization{ClientID: "client", ExpiresAt: past}))
		must(t, s.SetClientAssertionJWT(c, "old-jti", past))
		wantDeleted := int64(many + 5)

		must(t, s.CreateAuthorizeCodeSession(c, "code", live))
		must(t, s.CreatePKCERequestSession(c, "code", live))
		must(t, s.CreateAccessTokenSession(c, "at", live))
		must(t, s.CreateRefreshTokenSession(c, "rt", "at", live))
		must(t, s.CreateRefreshTokenSession(c, "rt-forever", "", forever))
		must(t, s.CreatePendingAuthorization(c, "pa", &provider.PendingAuthorization{ClientID: "client", ExpiresAt: time.Now().Add(time.Hour)}))
		must(t, s.SetClientAssertionJWT(c, "jti", time.Now().Add(time.Hour)))

		n, err := s.Purge(c, time.Now())
		if err != nil {
			t.Fatalf("Purge: %v", err)
		}
		if n != wantDeleted {
			t.Errorf("Purge deleted %d rows; want %d", n, wantDeleted)
		}
		var left int64
		must(t, s.DB().Table("oauth_access_tokens").Where("request_id = ?", "old").Count(&left).Error)
		if left != 0 {
			t.Errorf("%d expired access tokens left", left)
		}
		for what, err := range map[string]error{
			"code":                   second(s.GetAuthorizeCodeSession(c, "code", nil)),
			"pkce":                   second(s.GetPKCERequestSession(c, "code", nil)),
			"access":                 second(s.GetAccessTokenSession(c, "at", nil)),
			"refresh":                second(s.GetRefreshTokenSession(c, "rt", nil)),
			"refresh without expiry": second(s.GetRefreshTokenSession(c, "rt-forever", nil)),
			"pending":                second(s.GetPendingAuthorization(c, "pa")),
			"client":                 second(s.LoadClient(c, "client")),
		} {
			if err != nil {
				t.Errorf("unexpired %s purged: %v", what, err)
			}
		}
		if err := s.ClientAssertionJWTValid(c, "jti"); !errors.Is(err, fosite.ErrJTIKnown) {
			t.Errorf("unexpired jti purged: %v", err)
		}
		if n, err := s.Purge(c, time.Now()); err != nil || n != 0 {
			t.Errorf("second Purge = %d, %v; want 0, nil", n, err)
		}
	})
}

func second[T any](_ T, err error) error { return err }
