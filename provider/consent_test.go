package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// withRememberConsent turns on remembered consent with lifetime (0: the default).
func withRememberConsent(lifetime time.Duration) envOption {
	return func(_ *env, cfg *provider.Config) {
		cfg.RememberConsent = &provider.RememberConsentOptions{Lifetime: lifetime}
	}
}

const consentCB = "http://localhost:50123/callback"

// approveByHand sends an authorization request with extra parameters to the login page
// and has the user approve every requested scope there.
func (e *env) approveByHand(extra url.Values) {
	e.t.Helper()
	q, _ := e.authorizeParams(consentCB, extra)
	id, browser := e.pending(q)
	req, err := e.p.AuthorizationRequest(browser, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.p.Approve(browser, id, testSubject, req.Scopes); err != nil {
		e.t.Fatal(err)
	}
}

// remembered sends an authorization request with extra parameters and reports whether
// the user's remembered consent approves it without asking; when it does, the code it
// returns must be redeemable. It also checks that RememberedConsent agrees.
func (e *env) remembered(extra url.Values) (bool, []string) {
	e.t.Helper()
	q, verifier := e.authorizeParams(consentCB, extra)
	id, browser := e.pending(q)
	req, err := e.p.AuthorizationRequest(browser, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.p.RememberedConsent(e.ctx(), req, testSubject); err != nil {
		e.t.Fatal(err)
	}
	u, ok, err := e.p.ApproveRemembered(browser, id, testSubject)
	if err != nil {
		e.t.Fatalf("ApproveRemembered: %v", err)
	}
	if ok != req.AlreadyApproved {
		e.t.Errorf("ApproveRemembered ok %v but AlreadyApproved %v", ok, req.AlreadyApproved)
	}
	if !ok {
		// The pending request is untouched: the page asks, and the user can still approve.
		if _, err := e.p.Approve(browser, id, testSubject, req.Scopes); err != nil {
			e.t.Fatalf("approving after the page asked: %v", err)
		}
		return false, req.RememberedScopes
	}
	loc, _ := url.Parse(u)
	resp, tok := e.exchange(loc.Query().Get("code"), verifier, consentCB, nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("exchanging the remembered approval's code: %d %+v", resp.StatusCode, tok)
	}
	return true, req.RememberedScopes
}

// TestRememberedConsent_SkipAndReask pins which requests skip the consent page after an
// approval and which ask again (RememberConsentOptions).
func TestRememberedConsent_SkipAndReask(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		if ok, _ := e.remembered(nil); ok {
			t.Fatal("a first request skipped consent")
		}
		// That approval (by hand, in remembered) is now remembered.
		e.approveByHand(url.Values{"scope": {"read write"}})
		t.Run("same request", func(t *testing.T) {
			if ok, _ := e.remembered(url.Values{"scope": {"read write"}}); !ok {
				t.Error("the same request asked again")
			}
		})
		t.Run("subset of the scopes", func(t *testing.T) {
			if ok, _ := e.remembered(url.Values{"scope": {"read"}}); !ok {
				t.Error("a subset of the approved scopes asked again")
			}
		})
		t.Run("prompt=consent", func(t *testing.T) {
			if ok, _ := e.remembered(url.Values{"prompt": {"consent"}}); ok {
				t.Error("prompt=consent skipped the consent page")
			}
		})
		t.Run("another resource", func(t *testing.T) {
			if ok, _ := e.remembered(url.Values{"resource": {otherRes}}); ok {
				t.Error("another resource skipped the consent page")
			}
		})
		t.Run("another user", func(t *testing.T) {
			q, _ := e.authorizeParams(consentCB, nil)
			id, browser := e.pending(q)
			if _, ok, err := e.p.ApproveRemembered(browser, id, "someone-else"); ok || err != nil {
				t.Errorf("another user: ok %v, %v", ok, err)
			}
		})
	}, withLogin(), withRememberConsent(0))
}

// TestRememberedConsent_WiderScopeAsks: a scope beyond the approved ones asks again, with
// the approved ones reported as remembered.
func TestRememberedConsent_WiderScopeAsks(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		e.approveByHand(url.Values{"scope": {"read"}})
		ok, rem := e.remembered(url.Values{"scope": {"read write"}})
		if ok || !slices.Equal(rem, []string{"read"}) {
			t.Errorf("wider scope: skipped %v, remembered %v; want asked, [read]", ok, rem)
		}
		// That approval (of read write) widened the remembered consent.
		if ok, _ := e.remembered(url.Values{"scope": {"read write"}}); !ok {
			t.Error("after approving the wider scope it asked again")
		}
	}, withLogin(), withRememberConsent(0))
}

// TestRememberedConsent_ChangedClientAsks: an RFC 7592 update (or a refetched client ID
// metadata document) changing the client's name or redirect URIs asks again.
func TestRememberedConsent_ChangedClientAsks(t *testing.T) {
	for name, change := range map[string]func(c *provider.Client){
		"name":          func(c *provider.Client) { c.Name = "Totally Different App" },
		"redirect URIs": func(c *provider.Client) { c.RedirectURIs = append(c.RedirectURIs, "https://evil.example/cb") },
	} {
		t.Run(name, func(t *testing.T) {
			runEnv(t, func(t *testing.T, e *env) {
				e.approveByHand(nil)
				c, err := e.store.LoadClient(e.ctx(), e.public.ID)
				if err != nil {
					t.Fatal(err)
				}
				change(c)
				if err := e.store.UpdateClient(e.ctx(), c); err != nil {
					t.Fatal(err)
				}
				if ok, _ := e.remembered(nil); ok {
					t.Error("a changed client skipped the consent page")
				}
				// Approved again for the changed client: remembered again.
				if ok, _ := e.remembered(nil); !ok {
					t.Error("approval of the changed client not remembered")
				}
			}, withLogin(), withRememberConsent(0))
		})
	}
}

// TestRememberedConsent_RevokedAsks: revoking the grant forgets the consent.
func TestRememberedConsent_RevokedAsks(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		e.approveByHand(nil)
		if _, err := e.p.RevokeAllGrants(e.ctx(), testSubject); err != nil {
			t.Fatal(err)
		}
		if ok, _ := e.remembered(nil); ok {
			t.Error("a revoked grant's consent skipped the consent page")
		}
	}, withLogin(), withRememberConsent(0))
}

// TestRememberedConsent_ExpiredAsks: after Lifetime the consent page asks again.
func TestRememberedConsent_ExpiredAsks(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		e.approveByHand(nil)
		time.Sleep(5 * time.Millisecond)
		if ok, _ := e.remembered(nil); ok {
			t.Error("an expired consent skipped the consent page")
		}
	}, withLogin(), withRememberConsent(time.Millisecond))
}

// TestRememberedConsent_OffByDefault: without Config.RememberConsent every request asks.
func TestRememberedConsent_OffByDefault(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		e.approveByHand(nil)
		if ok, _ := e.remembered(nil); ok {
			t.Error("consent remembered without Config.RememberConsent")
		}
	}, withLogin())
}

// TestRememberedConsent_DefaultLifetime: 30 days, listed on the grant.
func TestRememberedConsent_DefaultLifetime(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		e.approveByHand(nil)
		page, err := e.p.ListGrants(e.ctx(), testSubject, nil)
		if err != nil || len(page.Grants) != 1 {
			t.Fatalf("ListGrants: %+v %v", page, err)
		}
		if d := time.Until(page.Grants[0].ConsentRememberedUntil); d < 29*24*time.Hour || d > 31*24*time.Hour {
			t.Errorf("ConsentRememberedUntil in %v, want 30 days", d)
		}
	}, withLogin(), withRememberConsent(0))
}

// TestGrants_ReportedToTheObserver: a remembered consent and a revoked grant are
// observe.ConsentRemembered and observe.GrantRevoked events (the audit trail's
// audit.consent_remembered and audit.grant_revoked), with the actor of the revocation.
func TestGrants_ReportedToTheObserver(t *testing.T) {
	var (
		mu     sync.Mutex
		events []observe.Event
	)
	rec := observe.Func(func(_ context.Context, e observe.Event) {
		if e.Kind == observe.ConsentRemembered || e.Kind == observe.GrantRevoked {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})
	withObserver := func(_ *env, cfg *provider.Config) { cfg.Observer = rec }
	runEnv(t, func(t *testing.T, e *env) {
		mu.Lock()
		events = nil // one run per database, one after the other
		mu.Unlock()
		e.approveByHand(url.Values{"scope": {"read"}})
		if ok, _ := e.remembered(url.Values{"scope": {"read"}}); !ok {
			t.Fatal("the approval was not remembered")
		}
		if _, err := e.p.RevokeAllGrants(e.ctx(), testSubject); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(events) != 2 || events[0].Kind != observe.ConsentRemembered || events[1].Kind != observe.GrantRevoked {
			t.Fatalf("events %+v; want consent_remembered then grant_revoked", events)
		}
		if c := events[0]; c.Subject != testSubject || c.ClientID == "" || !slices.Equal(c.Scopes, []string{"read"}) {
			t.Errorf("consent_remembered %+v", c)
		}
		if g := events[1]; g.Actor != observe.ActorUser || g.Subject != testSubject || g.Count != 1 {
			t.Errorf("grant_revoked %+v", g)
		}
	}, withLogin(), withRememberConsent(0), withObserver)
}
