package provider_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// subjectsNoGrantCanHold are subjects the grants index cannot hold alike on both
// databases: PostgreSQL refuses NUL and invalid UTF-8 in text, and index entries beyond
// 2704 bytes.
var subjectsNoGrantCanHold = []string{"a\x00b", "a\xffb", strings.Repeat("s", provider.MaxSubjectBytes+1)}

// A subject an operator's hook returns (Authenticator through Approve, AutoApprove,
// ApproveDevice) is checked before anything is recorded for it: Approve and ApproveDevice
// return an error naming it and leave the request to a valid approval; AutoApprove's
// subject ends the request with server_error at the client. Before, a long subject was a
// database failure on PostgreSQL alone (found by a review's sweep).
func TestValidateSubject_ApprovalsRefuseUnstorableSubjects(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
		id, browser := e.pending(q)
		for _, bad := range subjectsNoGrantCanHold {
			if _, err := e.p.Approve(browser, id, bad, []string{"read"}); err == nil || !strings.Contains(err.Error(), "subject") {
				t.Errorf("Approve with subject %.20q: %v, want the subject refused", bad, err)
			}
		}
		if u, err := e.p.Approve(browser, id, testSubject, []string{"read"}); err != nil || !strings.Contains(u, "code=") {
			t.Errorf("Approve with a valid subject after the refusals: %q, %v", u, err)
		}
	}, withLogin())

	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		for _, bad := range subjectsNoGrantCanHold {
			if err := e.p.ApproveDevice(e.ctx(), d.UserCode, bad, []string{"read"}); err == nil || !strings.Contains(err.Error(), "subject") {
				t.Errorf("ApproveDevice with subject %.20q: %v, want the subject refused", bad, err)
			}
		}
		if err := e.p.ApproveDevice(e.ctx(), d.UserCode, testSubject, []string{"read"}); err != nil {
			t.Errorf("ApproveDevice with a valid subject after the refusals: %v", err)
		}
	})

	for _, bad := range subjectsNoGrantCanHold {
		runEnv(t, func(t *testing.T, e *env) {
			q, _ := e.authorizeParams("http://localhost:50999/callback", nil)
			loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode()))
			if loc.Query().Get("error") != "server_error" || loc.Query().Get("code") != "" {
				t.Errorf("AutoApprove returning subject %.20q: redirect %s, want error=server_error", bad, loc)
			}
		}, func(_ *env, cfg *provider.Config) {
			cfg.AutoApprove = func(context.Context, *provider.AuthorizationRequest) (string, bool) { return bad, true }
		})
	}
}
