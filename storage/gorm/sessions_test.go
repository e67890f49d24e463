package gormstore_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ory/fosite"

	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// checkRoundTrip asserts that got is want as storage must return it: same ID, time, scopes,
// audiences, form and client ID, with the session decoded into sess.
func checkRoundTrip(t *testing.T, want *fosite.Request, got fosite.Requester, sess *fosite.DefaultSession) {
	t.Helper()
	if got == nil {
		t.Fatal("nil requester")
	}
	if got.GetID() != want.ID {
		t.Errorf("ID = %q; want %q", got.GetID(), want.ID)
	}
	if !got.GetRequestedAt().Equal(want.RequestedAt) {
		t.Errorf("RequestedAt = %v; want %v", got.GetRequestedAt(), want.RequestedAt)
	}
	if got.GetClient().GetID() != want.Client.GetID() {
		t.Errorf("client = %q; want %q", got.GetClient().GetID(), want.Client.GetID())
	}
	if d := cmp.Diff(want.RequestedScope, got.GetRequestedScopes()); d != "" {
		t.Errorf("requested scopes (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want.GrantedScope, got.GetGrantedScopes()); d != "" {
		t.Errorf("granted scopes (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want.RequestedAudience, got.GetRequestedAudience()); d != "" {
		t.Errorf("requested audience (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want.GrantedAudience, got.GetGrantedAudience()); d != "" {
		t.Errorf("granted audience (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want.Form, got.GetRequestForm()); d != "" {
		t.Errorf("form (-want +got):\n%s", d)
	}
	if sess != nil {
		if d := cmp.Diff(want.Session, sess, cmpopts.EquateApproxTime(0)); d != "" {
			t.Errorf("decoded session (-want +got):\n%s", d)
		}
		if got.GetSession() != fosite.Session(sess) {
			t.Errorf("requester session is not the session passed in")
		}
	}
}

// sessionKind describes one of the four signature-keyed session stores.
type sessionKind struct {
	name   string
	create func(s *gormstore.Store, t *testing.T, sig string, r fosite.Requester) error
	get    func(s *gormstore.Store, t *testing.T, sig string, sess fosite.Session) (fosite.Requester, error)
	del    func(s *gormstore.Store, t *testing.T, sig string) error
}

var sessionKinds = []sessionKind{
	{
		name: "authorize code",
		create: func(s *gormstore.Store, t *testing.T, sig string, r fosite.Requester) error {
			return s.CreateAuthorizeCodeSession(ctx(t), sig, r)
		},
		get: func(s *gormstore.Store, t *testing.T, sig string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetAuthorizeCodeSession(ctx(t), sig, sess)
		},
	},
	{
		name: "access token",
		create: func(s *gormstore.Store, t *testing.T, sig string, r fosite.Requester) error {
			return s.CreateAccessTokenSession(ctx(t), sig, r)
		},
		get: func(s *gormstore.Store, t *testing.T, sig string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetAccessTokenSession(ctx(t), sig, sess)
		},
		del: func(s *gormstore.Store, t *testing.T, sig string) error {
			return s.DeleteAccessTokenSession(ctx(t), sig)
		},
	},
	{
		name: "refresh token",
		create: func(s *gormstore.Store, t *testing.T, sig string, r fosite.Requester) error {
			return s.CreateRefreshTokenSession(ctx(t), sig, "access-"+sig, r)
		},
		get: func(s *gormstore.Store, t *testing.T, sig string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetRefreshTokenSession(ctx(t), sig, sess)
		},
		del: func(s *gormstore.Store, t *testing.T, sig string) error {
			return s.DeleteRefreshTokenSession(ctx(t), sig)
		},
	},
	{
		name: "PKCE",
		create: func(s *gormstore.Store, t *testing.T, sig string, r fosite.Requester) error {
			return s.CreatePKCERequestSession(ctx(t), sig, r)
		},
		get: func(s *gormstore.Store, t *testing.T, sig string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetPKCERequestSession(ctx(t), sig, sess)
		},
		del: func(s *gormstore.Store, t *testing.T, sig string) error {
			return s.DeletePKCERequestSession(ctx(t), sig)
		},
	},
}

// TestSessions_Contract pins, for every session store, what fosite's handlers rely on.
func TestSessions_Contract(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		cl := mustCreateClient(t, s, "client")
		for _, k := range sessionKinds {
			t.Run(k.name, func(t *testing.T) {
				req := newRequest(cl, randomString(t, "req-"), "marker")
				sig := randomString(t, "sig-")
				must(t, k.create(s, t, sig, req))

				t.Run("round trip decodes the session into the argument and reloads the client", func(t *testing.T) {
					sess := &fosite.DefaultSession{}
					got, err := k.get(s, t, sig, sess)
					if err != nil {
						t.Fatal(err)
					}
					checkRoundTrip(t, req, got, sess)
					if name := got.GetClient().(interface{ GetID() string }).GetID(); name != "client" {
						t.Errorf("client = %q", name)
					}
				})
				t.Run("nil session is accepted (revocation passes nil)", func(t *testing.T) {
					got, err := k.get(s, t, sig, nil)
					if err != nil {
						t.Fatal(err)
					}
					if got.GetID() != req.ID || got.GetClient().GetID() != "client" {
						t.Errorf("got %q/%q", got.GetID(), got.GetClient().GetID())
					}
				})
				t.Run("unknown signature → ErrNotFound", func(t *testing.T) {
					got, err := k.get(s, t, "unknown", &fosite.DefaultSession{})
					if !errors.Is(err, fosite.ErrNotFound) {
						t.Fatalf("err = %v; want ErrNotFound", err)
					}
					if got != nil {
						t.Errorf("requester = %v; want nil", got)
					}
				})
				t.Run("duplicate signature on create → ErrSerializationFailure", func(t *testing.T) {
					err := k.create(s, t, sig, newRequest(cl, "other", "m"))
					if !errors.Is(err, fosite.ErrSerializationFailure) {
						t.Fatalf("err = %v; want ErrSerializationFailure", err)
					}
				})
				if k.del != nil {
					t.Run("delete, then ErrNotFound; deleting again is not an error", func(t *testing.T) {
						must(t, k.del(s, t, sig))
						if _, err := k.get(s, t, sig, nil); !errors.Is(err, fosite.ErrNotFound) {
							t.Fatalf("after delete: %v; want ErrNotFound", err)
						}
						must(t, k.del(s, t, sig))
					})
				}
			})
		}
	})
}

// TestAuthorizeCode_UsedCodeReturnsRequesterAndErrInvalidatedAuthorizeCode pins RFC 6749 §4.1.2
// single use as fosite implements it: the handler needs the requester to revoke the grant.
func TestAuthorizeCode_UsedCodeReturnsRequesterAndErrInvalidatedAuthorizeCode(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "req-1", "m")
		must(t, s.CreateAuthorizeCodeSession(c, "code", req))
		must(t, s.InvalidateAuthorizeCodeSession(c, "code"))

		sess := &fosite.DefaultSession{}
		got, err := s.GetAuthorizeCodeSession(c, "code", sess)
		if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Fatalf("err = %v; want ErrInvalidatedAuthorizeCode", err)
		}
		checkRoundTrip(t, req, got, sess)

		if err := s.InvalidateAuthorizeCodeSession(c, "code"); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Errorf("second invalidation = %v; want ErrInvalidatedAuthorizeCode", err)
		}
		if err := s.InvalidateAuthorizeCodeSession(c, "unknown"); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("invalidating unknown code = %v; want ErrNotFound", err)
		}
	})
}

// TestRefreshToken_RotationDeactivatesAndRevokesAccessTokens pins strict rotation (OAuth 2.1
// §4.3.1): the presented token becomes inactive (requester + ErrInactiveToken, which drives reuse
// detection) and the grant's access tokens are removed.
func TestRefreshToken_RotationDeactivatesAndRevokesAccessTokens(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant-1", "m")
		other := newRequest(cl, "grant-2", "m")
		must(t, s.CreateAccessTokenSession(c, "at-1", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-1", "at-1", req))
		must(t, s.CreateAccessTokenSession(c, "at-other", other))
		must(t, s.CreateRefreshTokenSession(c, "rt-other", "at-other", other))

		must(t, s.RotateRefreshToken(c, "grant-1", "rt-1"))

		sess := &fosite.DefaultSession{}
		got, err := s.GetRefreshTokenSession(c, "rt-1", sess)
		if !errors.Is(err, fosite.ErrInactiveToken) {
			t.Fatalf("rotated token: err = %v; want ErrInactiveToken", err)
		}
		checkRoundTrip(t, req, got, sess)
		if _, err := s.GetAccessTokenSession(c, "at-1", nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access token of rotated grant: %v; want ErrNotFound", err)
		}
		if _, err := s.GetRefreshTokenSession(c, "rt-other", nil); err != nil {
			t.Errorf("other grant's refresh token touched: %v", err)
		}
		if _, err := s.GetAccessTokenSession(c, "at-other", nil); err != nil {
			t.Errorf("other grant's access token touched: %v", err)
		}

		t.Run("rotating an inactive token → ErrSerializationFailure", func(t *testing.T) {
			if err := s.RotateRefreshToken(c, "grant-1", "rt-1"); !errors.Is(err, fosite.ErrSerializationFailure) {
				t.Fatalf("err = %v; want ErrSerializationFailure", err)
			}
		})
		t.Run("rotating an unknown token → ErrNotFound", func(t *testing.T) {
			if err := s.RotateRefreshToken(c, "grant-1", "nope"); !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("err = %v; want ErrNotFound", err)
			}
		})
		t.Run("rotation records first use and count", func(t *testing.T) {
			var row struct {
				FirstUsedAt *string
				UsedCount   int
			}
			if err := s.DB().Raw("SELECT CAST(first_used_at AS TEXT) AS first_used_at, used_count FROM oauth_refresh_tokens WHERE request_id = ? AND used_count > 0", "grant-1").
				Scan(&row).Error; err != nil {
				t.Fatal(err)
			}
			if row.FirstUsedAt == nil || row.UsedCount != 1 {
				t.Errorf("first_used_at = %v, used_count = %d; want set, 1", row.FirstUsedAt, row.UsedCount)
			}
		})
	})
}

// TestRevocation_ByRequestIDCoversTheWholeFamily pins RFC 7009 §2.1 as fosite implements it:
// revoking by request ID reaches every refresh and access token of the grant, old and new.
func TestRevocation_ByRequestIDCoversTheWholeFamily(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "m")
		keep := newRequest(cl, "keep", "m")
		// A family after one rotation: rt-1 (rotated), rt-2 (current), several access tokens.
		must(t, s.CreateAccessTokenSession(c, "at-1", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-1", "at-1", req))
		must(t, s.RotateRefreshToken(c, "grant", "rt-1"))
		must(t, s.CreateAccessTokenSession(c, "at-2", req))
		must(t, s.CreateAccessTokenSession(c, "at-3", req))
		must(t, s.CreateRefreshTokenSession(c, "rt-2", "at-2", req))
		must(t, s.CreateAccessTokenSession(c, "at-keep", keep))
		must(t, s.CreateRefreshTokenSession(c, "rt-keep", "at-keep", keep))

		must(t, s.RevokeRefreshToken(c, "grant"))
		must(t, s.RevokeAccessToken(c, "grant"))

		for _, sig := range []string{"rt-1", "rt-2"} {
			got, err := s.GetRefreshTokenSession(c, sig, nil)
			if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetID() != "grant" {
				t.Errorf("%s after revocation: %v, %v; want requester + ErrInactiveToken", sig, got, err)
			}
		}
		for _, sig := range []string{"at-1", "at-2", "at-3"} {
			if _, err := s.GetAccessTokenSession(c, sig, nil); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("%s after revocation: %v; want ErrNotFound", sig, err)
			}
		}
		if _, err := s.GetRefreshTokenSession(c, "rt-keep", nil); err != nil {
			t.Errorf("other grant's refresh token: %v", err)
		}
		if _, err := s.GetAccessTokenSession(c, "at-keep", nil); err != nil {
			t.Errorf("other grant's access token: %v", err)
		}
		if err := s.RotateRefreshToken(c, "grant", "rt-2"); !errors.Is(err, fosite.ErrSerializationFailure) {
			t.Errorf("rotating a revoked token = %v; want ErrSerializationFailure", err)
		}
		must(t, s.RevokeRefreshToken(c, "no-such-grant"))
		must(t, s.RevokeAccessToken(c, "no-such-grant"))
	})
}

// TestCreateTokenSessions_StoresBothTokensLinked: a token response's access and refresh
// tokens stored in one call (one statement on PostgreSQL) read back as stored separately
// would, in the caller's transaction (a rollback leaves neither), and the refresh row names
// its access token: the grace window's first rotation deletes exactly that access token.
func TestCreateTokenSessions_StoresBothTokensLinked(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		client := mustCreateClient(t, s, "pair-client")
		at, rt := newRequest(client, "pair-grant", "access"), newRequest(client, "pair-grant", "refresh")
		rt.GrantedScope = fosite.Arguments{"read", "offline_access"}

		tx, err := s.BeginTX(c)
		must(t, err)
		must(t, s.CreateTokenSessions(tx, "rolled-back-at", at, "rolled-back-rt", rt))
		must(t, s.Rollback(tx))
		if _, err := s.GetAccessTokenSession(c, "rolled-back-at", nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access token after rollback: %v; want fosite.ErrNotFound", err)
		}
		if _, err := s.GetRefreshTokenSession(c, "rolled-back-rt", nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("refresh token after rollback: %v; want fosite.ErrNotFound", err)
		}

		tx, err = s.BeginTX(c)
		must(t, err)
		must(t, s.CreateTokenSessions(tx, "at-1", at, "rt-1", rt))
		must(t, s.Commit(tx))
		sess := new(fosite.DefaultSession)
		got, err := s.GetAccessTokenSession(c, "at-1", sess)
		must(t, err)
		checkRoundTrip(t, at, got, sess)
		sess = new(fosite.DefaultSession)
		got, err = s.GetRefreshTokenSession(c, "rt-1", sess)
		must(t, err)
		checkRoundTrip(t, rt, got, sess)

		// Another access token of the grant, not issued with rt-1, stays.
		must(t, s.CreateAccessTokenSession(c, "at-other", at))
		must(t, s.RotateRefreshTokenWithGrace(c, "pair-grant", "rt-1", testGrace))
		if _, err := s.GetAccessTokenSession(c, "at-1", nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access token issued with the rotated refresh token: %v; want fosite.ErrNotFound", err)
		}
		if _, err := s.GetAccessTokenSession(c, "at-other", nil); err != nil {
			t.Errorf("the grant's other access token after the rotation: %v", err)
		}

		// A token of a client that is gone stores neither row.
		gone := newClient(t, "gone-client")
		err = s.CreateTokenSessions(c, "at-gone", newRequest(gone, "gone-grant", "a"), "rt-gone", newRequest(gone, "gone-grant", "r"))
		if err == nil {
			t.Fatal("CreateTokenSessions for an unknown client succeeded")
		}
		if _, err := s.GetAccessTokenSession(c, "at-gone", nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access token of the unknown client: %v; want fosite.ErrNotFound", err)
		}
	})
}
