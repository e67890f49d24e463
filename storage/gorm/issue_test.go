package gormstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// issueFixture is a client with a recorded grant (request ID "grant") whose use
// IssueTokens records.
type issueFixture struct {
	s      *gormstore.Store
	client *provider.Client
	at     time.Time // when the grant was recorded
}

func newIssueFixture(t *testing.T, s *gormstore.Store) *issueFixture {
	t.Helper()
	f := &issueFixture{s: s, client: mustCreateClient(t, s, randomString(t, "client-")), at: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)}
	must(t, s.RecordGrant(ctx(t), provider.GrantRecord{
		RequestID: "grant", Subject: "alice", ClientID: f.client.ID, Resources: []string{"https://mcp.example/"},
		Scopes: []string{"read"}, At: f.at, ExpiresAt: f.at.Add(time.Hour),
	}))
	return f
}

// issue is a token response of the fixture's grant issuing access token at and refresh
// token rt (none when empty), recording the grant's use.
func (f *issueFixture) issue(at, rt string) provider.TokenIssue {
	now := time.Now().UTC().Truncate(time.Millisecond)
	iss := provider.TokenIssue{
		AccessSignature: at, AccessRequest: newRequest(f.client, "grant", at),
		GrantUse: &provider.GrantUse{RequestID: "grant", At: now, ExpiresAt: now.Add(24 * time.Hour)},
	}
	if rt != "" {
		iss.RefreshSignature, iss.RefreshRequest = rt, newRequest(f.client, "grant", rt)
	}
	return iss
}

// active reports whether the access or refresh token under sig is stored and active.
func (f *issueFixture) active(t *testing.T, refresh bool, sig string) bool {
	t.Helper()
	var err error
	if refresh {
		_, err = f.s.GetRefreshTokenSession(ctx(t), sig, nil)
	} else {
		_, err = f.s.GetAccessTokenSession(ctx(t), sig, nil)
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, fosite.ErrNotFound), errors.Is(err, fosite.ErrInactiveToken):
		return false
	default:
		t.Fatalf("reading %s: %v", sig, err)
		return false
	}
}

// clientUsed returns the client's LastUsedAt, as stored.
func (f *issueFixture) clientUsed(t *testing.T) time.Time {
	t.Helper()
	c, err := f.s.GetClient(ctx(t), f.client.ID)
	must(t, err)
	return c.(*provider.Client).LastUsedAt
}

// grantUsed returns the grant's LastUsedAt and ExpiresAt (its tokens' expiry).
func (f *issueFixture) grantUsed(t *testing.T) (last, expires time.Time) {
	t.Helper()
	g, err := f.s.GetGrant(ctx(t), "alice", f.client.ID, []string{"https://mcp.example/"})
	must(t, err)
	return g.LastUsedAt, g.ExpiresAt
}

// TestIssueTokens_CodeExchange (RFC 6749 §4.1.2, single use): a code exchange's writes
// consume the code, store both tokens and record the grant's and the client's use; the code again is
// fosite.ErrInvalidatedAuthorizeCode and an unknown code fosite.ErrNotFound, and neither
// writes anything.
func TestIssueTokens_CodeExchange(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c, f := ctx(t), newIssueFixture(t, s)
		must(t, s.CreateAuthorizeCodeSession(c, "code-1", newRequest(f.client, "grant", "code")))
		iss := f.issue("at-1", "rt-1")
		iss.Code = "code-1"
		iss.ClientUse = &provider.ClientUse{ClientID: f.client.ID, At: time.Now().UTC().Truncate(time.Millisecond)}
		must(t, s.IssueTokens(c, iss))
		if got := f.clientUsed(t); !got.Equal(iss.ClientUse.At) {
			t.Errorf("the client's last use %v; want %v", got, iss.ClientUse.At)
		}
		if !f.active(t, false, "at-1") || !f.active(t, true, "rt-1") {
			t.Error("the tokens of the exchange are not stored")
		}
		if _, err := s.GetAuthorizeCodeSession(c, "code-1", nil); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Errorf("the code after the exchange: %v; want ErrInvalidatedAuthorizeCode", err)
		}
		if last, exp := f.grantUsed(t); !last.Equal(iss.GrantUse.At) || !exp.Equal(iss.GrantUse.ExpiresAt) {
			t.Errorf("the grant's use: last %v, tokens expire %v; want %v, %v", last, exp, iss.GrantUse.At, iss.GrantUse.ExpiresAt)
		}

		again := f.issue("at-2", "rt-2")
		again.Code = "code-1"
		if err := s.IssueTokens(c, again); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			t.Errorf("the code again: %v; want ErrInvalidatedAuthorizeCode", err)
		}
		unknown := f.issue("at-3", "")
		unknown.Code = "no-such-code"
		if err := s.IssueTokens(c, unknown); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("an unknown code: %v; want ErrNotFound", err)
		}
		for _, sig := range []string{"at-2", "at-3"} {
			if f.active(t, false, sig) {
				t.Errorf("access token %s stored by a failed exchange", sig)
			}
		}
		if f.active(t, true, "rt-2") {
			t.Error("refresh token stored by a failed exchange")
		}
	})
}

// TestIssueTokens_StrictRotation (OAuth 2.1 §4.3.1): a refresh's writes deactivate the
// presented token and the grant's other active refresh tokens, delete the grant's access
// tokens and store the new pair; the rotated token again is
// fosite.ErrSerializationFailure, an unknown one fosite.ErrNotFound, and neither writes.
func TestIssueTokens_StrictRotation(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c, f := ctx(t), newIssueFixture(t, s)
		must(t, s.CreateTokenSessions(c, "at-1", newRequest(f.client, "grant", "a"), "rt-1", newRequest(f.client, "grant", "r")))
		must(t, s.CreateTokenSessions(c, "at-x", newRequest(f.client, "grant", "a"), "rt-x", newRequest(f.client, "grant", "r")))
		must(t, s.CreateTokenSessions(c, "at-other", newRequest(f.client, "other", "a"), "rt-other", newRequest(f.client, "other", "r")))
		iss := f.issue("at-2", "rt-2")
		iss.Rotation = &provider.Rotation{RequestID: "grant", Signature: "rt-1"}
		must(t, s.IssueTokens(c, iss))
		for sig, want := range map[string]bool{"rt-1": false, "rt-x": false, "rt-2": true, "rt-other": true} {
			if got := f.active(t, true, sig); got != want {
				t.Errorf("refresh token %s active = %v; want %v", sig, got, want)
			}
		}
		for sig, want := range map[string]bool{"at-1": false, "at-x": false, "at-2": true, "at-other": true} {
			if got := f.active(t, false, sig); got != want {
				t.Errorf("access token %s active = %v; want %v", sig, got, want)
			}
		}
		if last, _ := f.grantUsed(t); !last.Equal(iss.GrantUse.At) {
			t.Errorf("the grant's last use %v; want %v", last, iss.GrantUse.At)
		}

		again := f.issue("at-3", "rt-3")
		again.Rotation = &provider.Rotation{RequestID: "grant", Signature: "rt-1"}
		if err := s.IssueTokens(c, again); !errors.Is(err, fosite.ErrSerializationFailure) {
			t.Errorf("the rotated token again: %v; want ErrSerializationFailure", err)
		}
		unknown := f.issue("at-4", "rt-4")
		unknown.Rotation = &provider.Rotation{RequestID: "grant", Signature: "no-such-token"}
		if err := s.IssueTokens(c, unknown); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("an unknown token: %v; want ErrNotFound", err)
		}
		for _, sig := range []string{"3", "4"} {
			if f.active(t, true, "rt-"+sig) || f.active(t, false, "at-"+sig) {
				t.Errorf("tokens %s stored by a failed refresh", sig)
			}
		}
		if !f.active(t, false, "at-2") {
			t.Error("a failed refresh deleted the grant's access token")
		}
	})
}

// TestIssueTokens_GraceRotation: under the grace window a first use deletes only the
// access token issued with the presented token; a reuse within the window (the
// one-statement path cannot consume it) issues tokens of its own, and past
// MaxReuses it wraps provider.ErrRefreshTokenReuseLimit.
func TestIssueTokens_GraceRotation(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c, f := ctx(t), newIssueFixture(t, s)
		must(t, s.CreateTokenSessions(c, "at-1", newRequest(f.client, "grant", "a"), "rt-1", newRequest(f.client, "grant", "r")))
		must(t, s.CreateAccessTokenSession(c, "at-chain", newRequest(f.client, "grant", "a")))
		rotation := &provider.Rotation{RequestID: "grant", Signature: "rt-1", Grace: testGrace}
		for i := range testGrace.MaxReuses + 1 {
			iss := f.issue(fmt.Sprint("at-new-", i), fmt.Sprint("rt-new-", i))
			iss.Rotation = rotation
			must(t, s.IssueTokens(c, iss))
			if !f.active(t, false, iss.AccessSignature) || !f.active(t, true, iss.RefreshSignature) {
				t.Errorf("use %d: the new tokens are not stored", i)
			}
		}
		if f.active(t, false, "at-1") || !f.active(t, false, "at-chain") {
			t.Error("want the access token issued with rt-1 deleted and the other chain's kept")
		}
		iss := f.issue("at-late", "rt-late")
		iss.Rotation = rotation
		if err := s.IssueTokens(c, iss); !errors.Is(err, provider.ErrRefreshTokenReuseLimit) {
			t.Errorf("a use past MaxReuses: %v; want ErrRefreshTokenReuseLimit", err)
		}
		if f.active(t, false, "at-late") {
			t.Error("a use past MaxReuses stored tokens")
		}
	})
}

// TestIssueTokens_ConcurrentUses: of concurrent token responses consuming one code, or
// one refresh token under strict rotation, exactly one succeeds and stores its tokens;
// under the grace window 1 + MaxReuses do (conflicts retried, as the provider retries
// them). The others fail as their methods would and store nothing (real concurrency on
// both databases). On PostgreSQL every access token
// insert sleeps 50 ms, so that the losers of the one statement wait on the winner's row
// lock and find the row consumed when it commits.
func TestIssueTokens_ConcurrentUses(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c, f := ctx(t), newIssueFixture(t, s)
		must(t, s.CreateAuthorizeCodeSession(c, "code-race", newRequest(f.client, "grant", "code")))
		must(t, s.CreateTokenSessions(c, "at-0", newRequest(f.client, "grant", "a"), "rt-strict", newRequest(f.client, "grant", "r")))
		must(t, s.CreateTokenSessions(c, "at-1", newRequest(f.client, "grant", "a"), "rt-grace", newRequest(f.client, "grant", "r")))
		if s.Dialect() == "postgres" {
			for _, q := range []string{
				`CREATE FUNCTION slow_token_insert() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$ LANGUAGE plpgsql`,
				`CREATE TRIGGER slow_token_insert BEFORE INSERT ON oauth_access_tokens FOR EACH ROW EXECUTE FUNCTION slow_token_insert()`,
			} {
				must(t, s.DB().Exec(q).Error)
			}
		}
		for _, tc := range []struct {
			consume string
			wins    int
			lost    error // what the others end with
		}{
			{"code", 1, fosite.ErrInvalidatedAuthorizeCode},
			{"grace", 1 + testGrace.MaxReuses, provider.ErrRefreshTokenReuseLimit},
			// Last: a strict rotation deactivates the grant's other refresh tokens.
			{"strict", 1, fosite.ErrSerializationFailure},
		} {
			const n = 10
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					iss := f.issue(fmt.Sprintf("at-%s-%d", tc.consume, i), fmt.Sprintf("rt-%s-%d", tc.consume, i))
					switch tc.consume {
					case "code":
						iss.Code = "code-race"
					case "strict":
						iss.Rotation = &provider.Rotation{RequestID: "grant", Signature: "rt-strict"}
					case "grace":
						iss.Rotation = &provider.Rotation{RequestID: "grant", Signature: "rt-grace", Grace: testGrace}
					}
					// Retried on conflicts as the provider retries them (endpoints.go).
					for attempt := 1; ; attempt++ {
						errs[i] = s.IssueTokens(c, iss)
						if !errors.Is(errs[i], fosite.ErrSerializationFailure) || attempt == 2*testGrace.MaxReuses+3 {
							break
						}
					}
				})
			}
			wg.Wait()
			wins := 0
			for i, err := range errs {
				if err == nil {
					wins++
				} else if !errors.Is(err, tc.lost) {
					t.Errorf("%s %d: %v; want success or %v", tc.consume, i, err, tc.lost)
				}
				if stored := f.active(t, false, fmt.Sprintf("at-%s-%d", tc.consume, i)); stored != (err == nil) {
					t.Errorf("%s %d: error %v, access token stored %v", tc.consume, i, err, stored)
				}
			}
			if wins != tc.wins {
				t.Errorf("%d concurrent uses, %s: %d succeeded; want %d", n, tc.consume, wins, tc.wins)
			}
		}
	})
}

// TestIssueTokens_OneStatementOnPostgreSQL: on PostgreSQL every shape of token response
// the provider writes (a code or a refresh token consumed, with or without a refresh
// token, with a grant use with or without expiry, or none, with the client's use) is consumed by the one
// statement, which writes nothing when the code is already used; on SQLite there is no
// such statement (the group commit already writes a response in one turn).
func TestIssueTokens_OneStatementOnPostgreSQL(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c, f := ctx(t), newIssueFixture(t, s)
		postgres := s.Dialect() == "postgres"
		n := 0
		for _, consume := range []string{"code", "strict", "grace"} {
			for _, refresh := range []bool{false, true} {
				for _, use := range []string{"none", "expiry", "never", "client"} {
					n++
					at, rt := fmt.Sprint("at-", n), ""
					if refresh {
						rt = fmt.Sprint("rt-", n)
					}
					iss := f.issue(at, rt)
					clientAt := f.at.Add(time.Duration(n) * 2 * time.Minute).Truncate(time.Millisecond)
					iss.GrantUse.At, iss.GrantUse.ExpiresAt = clientAt.Add(time.Second), clientAt.Add(24*time.Hour+time.Duration(n)*time.Second)
					switch use {
					case "none":
						iss.GrantUse = nil
					case "never":
						iss.GrantUse.ExpiresAt = time.Time{}
					case "client":
						iss.ClientUse = &provider.ClientUse{ClientID: f.client.ID, At: clientAt}
					}
					// Each shape starts from a grant whose tokens expired (a grant's recorded
					// expiry only ever goes up, and NULL, never, stays).
					past := clientAt.Add(-time.Hour)
					must(t, s.DB().Exec("UPDATE oauth_grants SET token_expires_at = ?, expires_at = ?", past, past).Error)
					sig := fmt.Sprint("consumed-", n)
					switch consume {
					case "code":
						must(t, s.CreateAuthorizeCodeSession(c, sig, newRequest(f.client, "grant", "code")))
						iss.Code = sig
					default:
						must(t, s.CreateRefreshTokenSession(c, sig, "", newRequest(f.client, "grant", "r")))
						iss.Rotation = &provider.Rotation{RequestID: "grant", Signature: sig}
						if consume == "grace" {
							iss.Rotation.Grace = testGrace
						}
					}
					done, err := gormstore.IssueInOneStatement(s, c, iss)
					must(t, err)
					name := fmt.Sprintf("%s, refresh token %v, grant use %s", consume, refresh, use)
					if done != postgres || f.active(t, false, at) != postgres {
						t.Errorf("%s: done %v, access token stored %v; want %v", name, done, f.active(t, false, at), postgres)
					}
					if refresh && f.active(t, true, rt) != postgres {
						t.Errorf("%s: refresh token stored %v; want %v", name, !postgres, postgres)
					}
					if use == "client" && postgres {
						if got := f.clientUsed(t); !got.Equal(clientAt) {
							t.Errorf("%s: the client's last use %v; want %v", name, got, clientAt)
						}
					}
					if use != "none" && postgres {
						want := iss.GrantUse.ExpiresAt // zero: tokens that never expire
						if last, exp := f.grantUsed(t); !last.Equal(iss.GrantUse.At) || !exp.Equal(want) {
							t.Errorf("%s: the grant's use: last %v, tokens expire %v; want %v, %v", name, last, exp, iss.GrantUse.At, want)
						}
					}
				}
			}
		}
		if !postgres {
			return
		}
		used := f.issue("at-used", "rt-used")
		used.Code = "consumed-1"
		before, _ := f.grantUsed(t)
		done, err := gormstore.IssueInOneStatement(s, c, used)
		after, _ := f.grantUsed(t)
		if err != nil || done || f.active(t, false, "at-used") || f.active(t, true, "rt-used") || !after.Equal(before) {
			t.Errorf("a used code: done %v, error %v; want nothing written", done, err)
		}
	})
}
