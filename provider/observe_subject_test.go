package provider_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// eventLog records the observer's events of the kinds asked for.
type eventLog struct {
	mu     sync.Mutex
	kinds  []observe.Kind
	events []observe.Event
}

func (l *eventLog) option() envOption {
	return func(_ *env, cfg *provider.Config) {
		cfg.Observer = observe.Func(func(_ context.Context, e observe.Event) {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, k := range l.kinds {
				if e.Kind == k {
					l.events = append(l.events, e)
				}
			}
		})
	}
}

func (l *eventLog) take() []observe.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// TestRefreshReuse_EventNamesSubjectAndClient (RFC 9700 §4.14.2): when a rotated refresh
// token comes back and its grant is revoked, the refresh_reuse_detected event (the audit
// trail's audit.refresh_reuse_detected) names the user whose grant it was and the client,
// so that an operator can tell whom to warn. The refusal beside it names them too.
func TestRefreshReuse_EventNamesSubjectAndClient(t *testing.T) {
	log := &eventLog{kinds: []observe.Kind{observe.RefreshReuseDetected, observe.TokenRefused, observe.TokensIssued}}
	runEnv(t, func(t *testing.T, e *env) {
		tok := e.tokens(nil)
		if resp, rotated := e.refresh(tok.RefreshToken, nil); resp.StatusCode != http.StatusOK || rotated.RefreshToken == "" {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, rotated)
		}
		log.take()
		resp, r := e.refresh(tok.RefreshToken, nil) // the rotated one, again
		if resp.StatusCode != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Fatalf("reuse: %d %+v; want 400 invalid_grant", resp.StatusCode, r)
		}
		var reuse, refused *observe.Event
		for _, ev := range log.take() {
			switch ev.Kind {
			case observe.RefreshReuseDetected:
				reuse = &ev
			case observe.TokenRefused:
				refused = &ev
			}
		}
		if reuse == nil {
			t.Fatal("no refresh_reuse_detected event")
		}
		if reuse.Subject != testSubject || reuse.ClientID != e.public.ID || reuse.GrantType != "refresh_token" {
			t.Errorf("refresh_reuse_detected %+v; want subject %q, client %q", *reuse, testSubject, e.public.ID)
		}
		if refused == nil || refused.Subject != testSubject || refused.ClientID != e.public.ID {
			t.Errorf("token_refused %+v; want subject %q, client %q", refused, testSubject, e.public.ID)
		}
	}, log.option())
}

// TestConsentDenied_EventNamesSubject: a denial through DenyBy or DenyDeviceBy names the
// user who refused in the consent_denied event (the audit trail's audit.consent_denied);
// one through Deny or DenyDevice, whose caller does not know the user, names nobody. An
// approval's consent_approved event names the user and the granted scopes.
func TestConsentDenied_EventNamesSubject(t *testing.T) {
	log := &eventLog{kinds: []observe.Kind{observe.ConsentDenied, observe.ConsentApproved}}
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.tokens(nil) // approved through Approve on the consent API (withLogin)
		if ev := log.take(); len(ev) != 1 || ev[0].Kind != observe.ConsentApproved || ev[0].Subject != testSubject ||
			!slices.Equal(ev[0].Scopes, []string{"read"}) || ev[0].Reason != "" || ev[0].GrantType != "authorization_code" {
			t.Errorf("approval: events %+v, want one consent_approved naming %q with scope read", ev, testSubject)
		}
		check := func(what, grantType, subject string) {
			t.Helper()
			events := log.take()
			if len(events) != 1 || events[0].Kind != observe.ConsentDenied || events[0].Subject != subject ||
				events[0].GrantType != grantType || events[0].ClientID == "" {
				t.Errorf("%s: events %+v, want one consent_denied of %s naming %q", what, events, grantType, subject)
			}
		}
		q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
		id, browser := e.pending(q)
		if _, err := e.p.DenyBy(browser, id, testSubject); err != nil {
			t.Fatal(err)
		}
		check("DenyBy", "authorization_code", testSubject)
		id, browser = e.pending(q)
		if _, err := e.p.Deny(browser, id); err != nil {
			t.Fatal(err)
		}
		check("Deny", "authorization_code", "")

		if err := e.p.DenyDeviceBy(ctx, e.startDevice(deviceClient, nil).UserCode, testSubject); err != nil {
			t.Fatal(err)
		}
		check("DenyDeviceBy", provider.GrantTypeDeviceCode, testSubject)
		if err := e.p.DenyDevice(ctx, e.startDevice(deviceClient, nil).UserCode); err != nil {
			t.Fatal(err)
		}
		check("DenyDevice", provider.GrantTypeDeviceCode, "")
	}, withLogin(), log.option())
}
