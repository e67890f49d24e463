package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// withDevice turns the device grant on (with opts) and adds the public client
// "device-app" allowed to use it.
func withDevice(opts provider.DeviceAuthorizationOptions) envOption {
	return func(_ *env, cfg *provider.Config) {
		cfg.DeviceAuthorization = &opts
	}
}

// deviceResponse is the RFC 8628 §3.2 response (or an error).
type deviceResponse struct {
	provider.DeviceAuthorizationResponse
	Error string `json:"error"`
}

const deviceClient = "device-app"

// deviceEnv runs fn on both databases with the device grant on and a public client
// "device-app" (device_code + refresh_token).
func deviceEnv(t *testing.T, opts provider.DeviceAuthorizationOptions, fn func(t *testing.T, e *env), more ...envOption) {
	runEnv(t, func(t *testing.T, e *env) {
		if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{
			ID: deviceClient, Name: "Terminal App", Public: true,
			GrantTypes: []string{provider.GrantTypeDeviceCode, "refresh_token"},
		}); err != nil {
			t.Fatal(err)
		}
		fn(t, e)
	}, append([]envOption{withDevice(opts)}, more...)...)
}

// startDevice asks the device authorization endpoint as client with extra parameters.
func (e *env) startDevice(client string, extra url.Values) deviceResponse {
	e.t.Helper()
	form := url.Values{"client_id": {client}, "scope": {"read"}, "resource": {e.resource}}
	for k, v := range extra {
		form[k] = v
	}
	resp := e.postForm(e.issuer+"/device_authorization", form, "", "")
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("device authorization: %d %s", resp.StatusCode, body)
	}
	return decode[deviceResponse](e.t, resp)
}

// poll polls the token endpoint once with the device code.
func (e *env) poll(client, deviceCode string, extra url.Values) (*http.Response, tokenResponse) {
	e.t.Helper()
	form := url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "device_code": {deviceCode}, "client_id": {client}}
	for k, v := range extra {
		form[k] = v
	}
	resp := e.postForm(e.issuer+"/token", form, "", "")
	return resp, decode[tokenResponse](e.t, resp)
}

// RFC 6749 §5.1: the scope member may be left out only when the token's scope is the
// one requested. A device approval that grants none of the requested scopes keeps it
// (""), so that the client does not take the requested scope for granted (a review).
func TestRFC6749_5_1_ScopeMemberWhenNoneOfTheRequestedGranted(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil) // scope=read
		if err := e.p.ApproveDevice(e.ctx(), d.UserCode, testSubject, nil); err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {deviceClient}}
		resp := e.postForm(e.issuer+"/token", form, "", "")
		raw := decode[map[string]any](t, resp)
		if s, ok := raw["scope"]; resp.StatusCode != http.StatusOK || !ok || s != "" {
			t.Errorf("token response %d %v: want a scope member, empty", resp.StatusCode, raw)
		}
	})
}

var userCodeFormat = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestRFC8628_3_2_DeviceAuthorizationResponse(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		m := e.p.Metadata()
		if m.DeviceAuthorizationEndpoint != e.issuer+"/device_authorization" {
			t.Errorf("device_authorization_endpoint = %q", m.DeviceAuthorizationEndpoint)
		}
		found := false
		for _, g := range m.GrantTypesSupported {
			found = found || g == provider.GrantTypeDeviceCode
		}
		if !found {
			t.Errorf("grant_types_supported %v lacks the device_code grant", m.GrantTypesSupported)
		}
		d := e.startDevice(deviceClient, nil)
		if !userCodeFormat.MatchString(d.UserCode) {
			t.Errorf("user_code %q is not XXXX-XXXX of the unambiguous alphabet", d.UserCode)
		}
		if d.VerificationURI != e.issuer+"/device" || d.ExpiresIn != 600 || d.Interval != 5 || !strings.HasPrefix(d.DeviceCode, "ory_dc_") {
			t.Errorf("response %+v: want verification_uri %s/device, expires_in 600, interval 5, an ory_dc_ device code", d, e.issuer)
		}
		u, err := url.Parse(d.VerificationURIComplete)
		if err != nil || u.Query().Get("user_code") != d.UserCode || !strings.HasPrefix(d.VerificationURIComplete, d.VerificationURI+"?") {
			t.Errorf("verification_uri_complete %q does not carry the user code", d.VerificationURIComplete)
		}
		if d2 := e.startDevice(deviceClient, nil); d2.UserCode == d.UserCode || d2.DeviceCode == d.DeviceCode {
			t.Error("two requests got the same codes")
		}
		// RFC 6749 §5.1 (and RFC 8628 §3.2's example): a response with a credential, the
		// device code, is not cached.
		resp := e.postForm(e.issuer+"/device_authorization", url.Values{"client_id": {deviceClient}, "scope": {"read"}, "resource": {e.resource}}, "", "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Errorf("device authorization response: %d, Cache-Control %q, Pragma %q; want no-store, no-cache", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
		}
	})
}

func TestRFC8628_3_1_DeviceAuthorizationErrors(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		post := func(form url.Values) *http.Response {
			return e.postForm(e.issuer+"/device_authorization", form, "", "")
		}
		t.Run("client without the device grant", func(t *testing.T) {
			wantJSONError(t, post(url.Values{"client_id": {e.public.ID}}), http.StatusBadRequest, "unauthorized_client")
		})
		t.Run("unknown client", func(t *testing.T) {
			wantJSONError(t, post(url.Values{"client_id": {"nobody"}}), http.StatusUnauthorized, "invalid_client")
		})
		t.Run("confidential client without its secret", func(t *testing.T) {
			wantJSONError(t, post(url.Values{"client_id": {e.conf.ID}}), http.StatusUnauthorized, "invalid_client")
		})
		t.Run("unknown resource", func(t *testing.T) {
			wantJSONError(t, post(url.Values{"client_id": {deviceClient}, "resource": {"https://evil.example/mcp"}}), http.StatusBadRequest, "invalid_target")
		})
		t.Run("scope the client may not have", func(t *testing.T) {
			wantJSONError(t, post(url.Values{"client_id": {deviceClient}, "scope": {"admin"}}), http.StatusBadRequest, "invalid_scope")
		})
		t.Run("repeated scope", func(t *testing.T) {
			wantJSONError(t, post(url.Values{"client_id": {deviceClient}, "scope": {"read", "write"}}), http.StatusBadRequest, "invalid_request")
		})
		t.Run("GET", func(t *testing.T) {
			resp := e.get(e.issuer + "/device_authorization?client_id=" + deviceClient)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("GET: %d, want 405", resp.StatusCode)
			}
		})
		t.Run("token endpoint without device_code", func(t *testing.T) {
			resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "client_id": {deviceClient}}, "", "")
			wantJSONError(t, resp, http.StatusBadRequest, "invalid_request")
		})
		t.Run("forged device code", func(t *testing.T) {
			resp, _ := e.poll(deviceClient, "ory_dc_forged.signature", nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("forged device code: %d", resp.StatusCode)
			}
		})
		t.Run("device code of another client", func(t *testing.T) {
			if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{
				ID: "other-device-app", Public: true, GrantTypes: []string{provider.GrantTypeDeviceCode},
			}); err != nil {
				t.Fatal(err)
			}
			d := e.startDevice(deviceClient, nil)
			resp, tok := e.poll("other-device-app", d.DeviceCode, nil)
			if resp.StatusCode != http.StatusBadRequest || tok.Error != "invalid_grant" {
				t.Errorf("other client's poll: %d %q, want invalid_grant", resp.StatusCode, tok.Error)
			}
		})
	})
}

func TestRFC8628_3_5_PendingSlowDownApprovedOnce(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{Interval: time.Second}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, url.Values{"scope": {"read write"}})
		if _, tok := e.poll(deviceClient, d.DeviceCode, nil); tok.Error != "authorization_pending" {
			t.Fatalf("first poll: %q, want authorization_pending", tok.Error)
		}
		if _, tok := e.poll(deviceClient, d.DeviceCode, nil); tok.Error != "slow_down" {
			t.Fatalf("immediate second poll: %q, want slow_down", tok.Error)
		}
		// The interval is now 1 s + 5 s: waiting the original 1 s is still too fast.
		time.Sleep(1100 * time.Millisecond)
		if _, tok := e.poll(deviceClient, d.DeviceCode, nil); tok.Error != "slow_down" {
			t.Fatalf("poll after the original interval: %q, want slow_down (interval raised by 5 s)", tok.Error)
		}

		req, err := e.p.DeviceRequest(context.Background(), strings.ToLower(strings.ReplaceAll(d.UserCode, "-", "")))
		if err != nil {
			t.Fatalf("DeviceRequest (lower case, no hyphen): %v", err)
		}
		if req.ClientID != deviceClient || req.ClientName != "Terminal App" || strings.Join(req.Scopes, " ") != "read write" || len(req.Resources) != 1 || req.Resources[0] != e.resource {
			t.Errorf("DeviceRequest = %+v", req)
		}
		if err := e.p.ApproveDevice(context.Background(), d.UserCode, testSubject, []string{"admin"}); !errors.Is(err, provider.ErrScopeNotRequested) {
			t.Errorf("approving an unrequested scope: %v", err)
		}
		if err := e.p.ApproveDevice(context.Background(), d.UserCode, testSubject, []string{"read"}); err != nil {
			t.Fatal(err)
		}
		if err := e.p.DenyDevice(context.Background(), d.UserCode); !errors.Is(err, provider.ErrDeviceRequestNotFound) {
			t.Errorf("deny after approval: %v, want ErrDeviceRequestNotFound", err)
		}
		resp, tok := e.poll(deviceClient, d.DeviceCode, nil)
		if resp.StatusCode != http.StatusOK || tok.AccessToken == "" || tok.RefreshToken == "" || tok.Scope != "read" {
			t.Fatalf("approved poll: %d %+v", resp.StatusCode, tok)
		}
		in := e.introspect(tok.AccessToken)
		if !in.Active || in.Sub != testSubject || in.ClientID != deviceClient || len(in.Aud) != 1 || in.Aud[0] != e.resource || in.Scope != "read" {
			t.Errorf("introspection %+v: want the approving user, the client, the resource as audience and scope read", in)
		}
		if _, again := e.poll(deviceClient, d.DeviceCode, nil); again.Error != "invalid_grant" {
			t.Errorf("second redemption: %q, want invalid_grant", again.Error)
		}
		// Refresh tokens work as for the code flow.
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {deviceClient}}
		rresp := e.postForm(e.issuer+"/token", form, "", "")
		rtok := decode[tokenResponse](t, rresp)
		if rresp.StatusCode != http.StatusOK || rtok.AccessToken == "" || rtok.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh: %d %+v", rresp.StatusCode, rtok)
		}
		if in := e.introspect(rtok.AccessToken); !in.Active || in.Sub != testSubject || len(in.Aud) != 1 || in.Aud[0] != e.resource {
			t.Errorf("refreshed token %+v", in)
		}
	})
}

func TestRFC8628_3_5_AccessDenied(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		if err := e.p.DenyDevice(context.Background(), d.UserCode); err != nil {
			t.Fatal(err)
		}
		resp, tok := e.poll(deviceClient, d.DeviceCode, nil)
		if resp.StatusCode != http.StatusBadRequest || tok.Error != "access_denied" {
			t.Errorf("poll after denial: %d %q, want 400 access_denied", resp.StatusCode, tok.Error)
		}
		if _, err := e.p.DeviceRequest(context.Background(), d.UserCode); !errors.Is(err, provider.ErrDeviceRequestNotFound) {
			t.Errorf("DeviceRequest after denial: %v", err)
		}
	})
}

func TestRFC8628_3_5_ExpiredToken(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{Lifespan: time.Second}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		time.Sleep(1100 * time.Millisecond)
		if _, tok := e.poll(deviceClient, d.DeviceCode, nil); tok.Error != "expired_token" {
			t.Errorf("poll after expiry: %q, want expired_token", tok.Error)
		}
		if err := e.p.ApproveDevice(context.Background(), d.UserCode, testSubject, nil); !errors.Is(err, provider.ErrDeviceRequestNotFound) {
			t.Errorf("approving an expired code: %v", err)
		}
		n, err := e.store.Purge(context.Background(), time.Now())
		if err != nil || n < 1 {
			t.Errorf("Purge = %d, %v; want the expired device code removed", n, err)
		}
		if _, tok := e.poll(deviceClient, d.DeviceCode, nil); tok.Error != "invalid_grant" {
			t.Errorf("poll after purge: %q, want invalid_grant", tok.Error)
		}
	})
}

// Of 20 concurrent polls of an approved device code exactly one gets tokens, and of 20
// concurrent approvals exactly one succeeds: conditional writes on both databases.
func TestRFC8628_DeviceCodeSingleUseUnderConcurrentPolling(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.p.ApproveDevice(context.Background(), d.UserCode, testSubject, []string{"read"})
			}()
		}
		wg.Wait()
		approved := 0
		for _, err := range errs {
			switch {
			case err == nil:
				approved++
			case !errors.Is(err, provider.ErrDeviceRequestNotFound):
				t.Errorf("concurrent approval: %v", err)
			}
		}
		if approved != 1 {
			t.Fatalf("%d approvals succeeded, want 1", approved)
		}
		codes := make([]int, n)
		bodies := make([]tokenResponse, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				form := url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {deviceClient}}
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				codes[i] = resp.StatusCode
				bodies[i] = decode[tokenResponse](t, resp)
			}()
		}
		wg.Wait()
		won := 0
		for i := range n {
			switch {
			case codes[i] == http.StatusOK && bodies[i].AccessToken != "":
				won++
			case codes[i] == http.StatusBadRequest && bodies[i].Error == "invalid_grant":
			default:
				t.Errorf("poll %d: %d %+v, want 200 or 400 invalid_grant", i, codes[i], bodies[i])
			}
		}
		if won != 1 {
			t.Errorf("%d polls got tokens, want exactly 1", won)
		}
	})
}

// The verification page: the query's user code only prefills the form (no lookup, no
// approval without a POST); lookup and decision are POSTs with a CSRF token bound to a
// cookie; the page shows who asks and for what.
func TestRFC8628_3_3_VerificationPage(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{Interval: time.Second}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		body := func(resp *http.Response) string {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		resp, err := browser.Get(d.VerificationURIComplete)
		if err != nil {
			t.Fatal(err)
		}
		page := body(resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="`+d.UserCode+`"`) || strings.Contains(page, "Terminal App") {
			t.Fatalf("GET verification_uri_complete: %d; want the form prefilled with the code and no lookup:\n%s", resp.StatusCode, page)
		}
		csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
		if csrf == nil {
			t.Fatal("no CSRF token on the page")
		}
		post := func(c *http.Client, form url.Values) (*http.Response, string) {
			resp, err := c.PostForm(d.VerificationURI, form)
			if err != nil {
				t.Fatal(err)
			}
			return resp, body(resp)
		}
		// Without the cookie (another site posting the form) the CSRF check fails.
		if resp, _ := post(http.DefaultClient, url.Values{"csrf_token": {csrf[1]}, "user_code": {d.UserCode}, "action": {"lookup"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST without the cookie: %d, want 403", resp.StatusCode)
		}
		if resp, page := post(browser, url.Values{"csrf_token": {csrf[1]}, "user_code": {"BBBB-BBBB"}, "action": {"lookup"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "unknown, expired or already used") {
			t.Errorf("wrong code: %d\n%s", resp.StatusCode, page)
		}
		typed := strings.ToLower(d.UserCode)
		resp, page = post(browser, url.Values{"csrf_token": {csrf[1]}, "user_code": {typed}, "action": {"lookup"}})
		for _, want := range []string{"Terminal App", deviceClient, "read", e.resource, d.UserCode, `name="password"`} {
			if !strings.Contains(page, want) {
				t.Errorf("consent view lacks %q:\n%s", want, page)
			}
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("lookup: %d", resp.StatusCode)
		}
		if resp, _ := post(browser, url.Values{"csrf_token": {csrf[1]}, "user_code": {d.UserCode}, "action": {"approve"}, "username": {testUser}, "password": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong password: %d, want 401", resp.StatusCode)
		}
		if _, tok := e.poll(deviceClient, d.DeviceCode, nil); tok.Error != "authorization_pending" {
			t.Errorf("poll before approval: %q", tok.Error)
		}
		resp, page = post(browser, url.Values{"csrf_token": {csrf[1]}, "user_code": {d.UserCode}, "action": {"approve"}, "username": {testUser}, "password": {testPassword}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Device connected") {
			t.Fatalf("approve: %d\n%s", resp.StatusCode, page)
		}
		// The next poll may come too soon after the previous one; wait out the interval.
		time.Sleep(1100 * time.Millisecond)
		if resp, tok := e.poll(deviceClient, d.DeviceCode, nil); resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Errorf("poll after approval on the page: %d %+v", resp.StatusCode, tok)
		}
	}, withLogin())
}

// User codes are drawn without modulo bias: over 80 000 codes (640 000 characters) every
// letter of the alphabet appears 32 000 ± 4 % times (a modulo of random bytes would give
// the first 16 letters 8.3 % more than the last 4; the bound is ~7 standard deviations,
// so a fair draw fails it about never, where 20 000 codes' ~3.6 failed one run in a few
// hundred).
func TestRFC8628_6_1_UserCodeUniformAlphabet(t *testing.T) {
	counts := map[rune]int{}
	const codes = 80000
	for range codes {
		c, err := provider.NewUserCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != provider.UserCodeLength {
			t.Fatalf("code %q", c)
		}
		for _, r := range c {
			counts[r]++
		}
	}
	want := codes * provider.UserCodeLength / len(provider.UserCodeAlphabet)
	for _, r := range provider.UserCodeAlphabet {
		if got := counts[r]; got < want*96/100 || got > want*104/100 {
			t.Errorf("letter %c appears %d times, want %d ± 4%%", r, got, want)
		}
	}
	if len(counts) != len(provider.UserCodeAlphabet) {
		t.Errorf("codes use %d letters, want exactly the %d of the alphabet", len(counts), len(provider.UserCodeAlphabet))
	}
}

func TestRFC8628_6_1_UserCodeMatchingIgnoresCaseAndHyphens(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdfghjk": "BCDFGHJK", " bcdf ghjk ": "BCDFGHJK", "bc-df-gh-jk": "BCDFGHJK",
		"BCDF-GHJ": "", "BCDF-GHJA": "", "BCDF-GHJ0": "", "BCDF-GHJKL": "", "BCDF-GHJÉ": "", "": "",
	} {
		got, ok := provider.NormalizeUserCode(in)
		if ok != (want != "") || got != want {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if got := provider.FormatUserCode("BCDFGHJK"); got != "BCDF-GHJK" {
		t.Errorf("FormatUserCode = %q", got)
	}
}

// Neither the device code nor the user code (nor its hyphen-less form) is stored.
func TestRFC8628_CodesNotStoredInClear(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		d := e.startDevice(deviceClient, nil)
		rows, err := e.store.DB().Raw("SELECT * FROM oauth_device_codes").Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				}
				for _, secret := range []string{d.DeviceCode, strings.TrimPrefix(d.DeviceCode, "ory_dc_"), d.UserCode, strings.ReplaceAll(d.UserCode, "-", ""), "read"} {
					if s != "" && strings.Contains(s, secret) {
						t.Errorf("column %s holds %q in clear", cols[i], secret)
					}
				}
			}
		}
		if n != 1 {
			t.Errorf("%d rows, want 1", n)
		}
	})
}

func TestDeviceAuthorizationOptionsValidation(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		base := provider.Config{Issuer: e.issuer, Storage: e.store, GlobalSecret: []byte("0123456789abcdef0123456789abcdef-test"),
			AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "", false }}
		cfg := base
		cfg.LoginURL = e.base + "/consent"
		cfg.DeviceAuthorization = &provider.DeviceAuthorizationOptions{}
		if _, err := provider.New(cfg); err == nil {
			t.Error("own login page without DeviceAuthorizationOptions.VerificationURI accepted")
		}
		cfg.DeviceAuthorization = &provider.DeviceAuthorizationOptions{Interval: 1500 * time.Millisecond}
		if _, err := provider.New(cfg); err == nil {
			t.Error("fractional interval accepted")
		}
		if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{ID: "d", Public: true, GrantTypes: []string{provider.GrantTypeDeviceCode}}); err == nil {
			t.Error("device_code client accepted with the grant off")
		}
		resp := e.postForm(e.issuer+"/token", url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "device_code": {"x"}, "client_id": {e.public.ID}}, "", "")
		wantJSONError(t, resp, http.StatusBadRequest, "unsupported_grant_type")
		if e.p.Metadata().DeviceAuthorizationEndpoint != "" {
			t.Error("device endpoint advertised with the grant off")
		}
	})
}

// TestIssue14Finding5_DeviceRequestShowsWebsiteUnverifiedInASCII: the device verification
// (RFC 8628 §5.4, the user must see who asks) follows the consent page's rule for the
// client's client_uri: its host in ASCII (a homograph shows as punycode), and only as
// the client's unverified claim.
func TestIssue14Finding5_DeviceRequestShowsWebsiteUnverifiedInASCII(t *testing.T) {
	deviceEnv(t, provider.DeviceAuthorizationOptions{}, func(t *testing.T, e *env) {
		if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{
			ID: "homograph-terminal", Name: "Homograph Terminal", Public: true, URI: "https://аррӏе.com/app",
			GrantTypes: []string{provider.GrantTypeDeviceCode},
		}); err != nil {
			t.Fatal(err)
		}
		d := e.startDevice("homograph-terminal", nil)
		req, err := e.p.DeviceRequest(context.Background(), d.UserCode)
		if err != nil {
			t.Fatal(err)
		}
		if req.ClientURIHost != "xn--80ak6aa92e.com" {
			t.Errorf("ClientURIHost = %q; want the punycode host xn--80ak6aa92e.com", req.ClientURIHost)
		}
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		resp, err := browser.Get(d.VerificationURIComplete)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
		if csrf == nil {
			t.Fatalf("no CSRF token on the page:\n%s", page)
		}
		resp, err = browser.PostForm(d.VerificationURI, url.Values{"csrf_token": {string(csrf[1])}, "user_code": {d.UserCode}, "action": {"lookup"}})
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "xn--80ak6aa92e.com") || !strings.Contains(string(page), "unverified") || strings.Contains(string(page), "аррӏе") {
			t.Errorf("verification page: want the website in punycode, marked unverified, never the Unicode host:\n%s", page)
		}
	})
}
