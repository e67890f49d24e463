package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// deviceGrantType is the RFC 8628 grant type.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// deviceChecks are the device flow checks, skipped together when the server
// advertises no device authorization endpoint (the grant is optional).
var deviceChecks = []string{
	"DEVICE-META", "DEVICE-RESPONSE", "DEVICE-PENDING", "DEVICE-SLOW-DOWN", "DEVICE-DENIED", "DEVICE-SINGLE-USE", "DEVICE-EXPIRED",
}

// deviceCodes is a device authorization response.
type deviceCodes struct {
	deviceCode, userCode, verificationURI, complete string
	expiresIn                                       int64
	ev                                              string
}

// device checks the device authorization grant (RFC 8628) with a client the suite
// registers for it: the response, authorization_pending, slow_down, approval on the
// verification page through the login driver (single use), denial, and expiry when the
// codes live no longer than Target.DeviceExpiryWait.
func (r *runner) device(ctx context.Context) {
	if r.asm == nil {
		r.skipAll("no authorization server metadata", deviceChecks...)
		return
	}
	endpoint := str(r.asm, "device_authorization_endpoint")
	if endpoint == "" {
		r.skipAll("the authorization server advertises no device_authorization_endpoint (RFC 8628 is optional)", deviceChecks...)
		return
	}
	grants, _ := stringList(r.asm, "grant_types_supported")
	r.check("DEVICE-META", contains(grants, deviceGrantType),
		"grant_types_supported lacks "+deviceGrantType+" although device_authorization_endpoint is advertised",
		"grant_types_supported: "+strings.Join(grants, " "))
	if r.endpoints.registration == "" || r.endpoints.token == "" {
		r.skipAll("no dynamic client registration to create a client for the device grant", deviceChecks[1:]...)
		return
	}
	e, c := r.register(ctx, "device", map[string]any{
		"client_name": "conformance device client", "token_endpoint_auth_method": "none",
		"grant_types": []string{deviceGrantType, "refresh_token"},
	})
	if c == nil || c.id == "" {
		r.skipAll("registering a client with the device grant failed: "+e.withError(), deviceChecks[1:]...)
		return
	}
	start := func() (*deviceCodes, *exchange) {
		form := url.Values{"resource": {r.mcpURL}}
		if len(r.scopes) > 0 {
			form.Set("scope", strings.Join(r.scopes, " "))
		}
		e := r.clientPost(ctx, endpoint, c, form)
		m := e.object()
		if e.err != nil || e.status != http.StatusOK || m == nil {
			return nil, e
		}
		d := &deviceCodes{deviceCode: str(m, "device_code"), userCode: str(m, "user_code"),
			verificationURI: str(m, "verification_uri"), complete: str(m, "verification_uri_complete"), ev: e.line()}
		if n, ok := m["expires_in"].(json.Number); ok {
			d.expiresIn, _ = n.Int64()
		}
		return d, e
	}
	poll := func(d *deviceCodes) (*exchange, string) {
		e := r.tokenRequest(ctx, c, url.Values{"grant_type": {deviceGrantType}, "device_code": {d.deviceCode}})
		code, _ := e.oauthError()
		return e, code
	}

	d, e := start()
	if d == nil {
		r.violation("DEVICE-RESPONSE", "the device authorization request failed", e.withError())
		r.skipAll("no device code", deviceChecks[2:]...)
		return
	}
	_, hasInterval := e.object()["interval"]
	r.check("DEVICE-RESPONSE", d.deviceCode != "" && d.userCode != "" && d.verificationURI != "" && d.expiresIn > 0,
		"device_code, user_code, verification_uri and a positive expires_in are required", d.ev)
	if !hasInterval {
		r.warn("DEVICE-RESPONSE", "no interval: clients fall back to 5 s", d.ev)
	}

	e1, code1 := poll(d)
	r.check("DEVICE-PENDING", e1.status == http.StatusBadRequest && code1 == "authorization_pending",
		fmt.Sprintf("an unapproved device code got %d %q, want 400 authorization_pending", e1.status, code1), e1.line())
	e2, code2 := poll(d)
	switch {
	case code2 == "slow_down":
		r.pass("DEVICE-SLOW-DOWN", e2.line())
	case code2 == "authorization_pending":
		r.warn("DEVICE-SLOW-DOWN", "a poll right after the previous one got authorization_pending: the interval is not enforced", e2.line())
	default:
		r.violation("DEVICE-SLOW-DOWN", fmt.Sprintf("a second immediate poll got %d %q, want slow_down", e2.status, code2), e2.line())
	}

	r.deviceSingleUse(ctx, start, poll, c)
	r.deviceDenied(ctx, start, poll)
	r.deviceExpired(ctx, start, poll)
}

// approveDevice has the login driver answer on verification_uri_complete (deny selects
// the deny button of a FormLogin driver). It reports false when there is no such URI.
func (r *runner) approveDevice(ctx context.Context, d *deviceCodes, driver LoginDriver) ([]string, bool) {
	if d.complete == "" {
		return nil, false
	}
	saved := r.login
	r.login = driver
	res := r.authorizeURL(ctx, d.complete, "")
	r.login = saved
	return res.evidence, true
}

func (r *runner) deviceSingleUse(ctx context.Context, start func() (*deviceCodes, *exchange), poll func(*deviceCodes) (*exchange, string), c *testClient) {
	d, e := start()
	if d == nil {
		r.skip("DEVICE-SINGLE-USE", "the device authorization request failed", e.withError())
		return
	}
	ev, ok := r.approveDevice(ctx, d, r.login)
	if !ok {
		r.skip("DEVICE-SINGLE-USE", "no verification_uri_complete to drive the verification page with", d.ev)
		return
	}
	first, code := poll(d)
	if first.status != http.StatusOK {
		r.skip("DEVICE-SINGLE-USE", fmt.Sprintf("the login driver did not approve on the verification page (poll: %d %q); a form-filling driver (-login form) is needed", first.status, code),
			append(ev, first.line())...)
		return
	}
	if ts := r.noteTokenResponse(first); ts != nil {
		r.track(c, ts)
	}
	again, code := poll(d)
	r.check("DEVICE-SINGLE-USE", again.status == http.StatusBadRequest && code == "invalid_grant",
		fmt.Sprintf("a redeemed device code got %d %q, want 400 invalid_grant", again.status, code), first.line(), again.line())
}

func (r *runner) deviceDenied(ctx context.Context, start func() (*deviceCodes, *exchange), poll func(*deviceCodes) (*exchange, string)) {
	var deny LoginDriver
	switch f := r.login.(type) {
	case FormLogin:
		f.Approve = "deny|reject|log ?in|sign ?in|continue"
		deny = f
	case *FormLogin:
		cp := *f
		cp.Approve = "deny|reject|log ?in|sign ?in|continue"
		deny = cp
	default:
		r.skip("DEVICE-DENIED", "denying needs the FormLogin driver (-login form)")
		return
	}
	d, e := start()
	if d == nil {
		r.skip("DEVICE-DENIED", "the device authorization request failed", e.withError())
		return
	}
	ev, ok := r.approveDevice(ctx, d, deny)
	if !ok {
		r.skip("DEVICE-DENIED", "no verification_uri_complete to drive the verification page with", d.ev)
		return
	}
	e1, code := poll(d)
	switch {
	case code == "authorization_pending":
		r.skip("DEVICE-DENIED", "the login driver could not deny on the verification page", append(ev, e1.line())...)
	default:
		r.check("DEVICE-DENIED", e1.status == http.StatusBadRequest && code == "access_denied",
			fmt.Sprintf("a denied device code got %d %q, want 400 access_denied", e1.status, code), e1.line())
	}
}

func (r *runner) deviceExpired(ctx context.Context, start func() (*deviceCodes, *exchange), poll func(*deviceCodes) (*exchange, string)) {
	d, e := start()
	if d == nil {
		r.skip("DEVICE-EXPIRED", "the device authorization request failed", e.withError())
		return
	}
	wait := time.Duration(d.expiresIn)*time.Second + time.Second
	if r.t.DeviceExpiryWait <= 0 || wait > r.t.DeviceExpiryWait+time.Second {
		r.skip("DEVICE-EXPIRED", fmt.Sprintf("device codes live %d s, longer than the suite may wait (Target.DeviceExpiryWait, -device-expiry-wait %s)", d.expiresIn, r.t.DeviceExpiryWait), d.ev)
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	e1, code := poll(d)
	r.check("DEVICE-EXPIRED", e1.status == http.StatusBadRequest && code == "expired_token",
		fmt.Sprintf("an expired device code got %d %q, want 400 expired_token", e1.status, code), e1.line())
}
