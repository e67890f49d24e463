package provider

import (
	"crypto/hmac"
	"errors"
	"html/template"
	"net/http"

	"github.com/fosite-mcp/fosite-mcp/internal/randid"
	"github.com/ory/fosite"
)

// deviceCSRFCookie names the cookie holding the verification page's CSRF secret.
const deviceCSRFCookie = "fosite_mcp_device_csrf"

var devicePageTemplate = template.Must(pageParts("device").Parse(`{{template "head" .}}
<h1>{{.Title}}</h1>
{{if .Message}}<p class="{{if .Error}}err{{end}}">{{.Message}}</p>{{end}}
{{if .Request}}{{with .Request}}
<p>Code <span class="code">{{.UserCode}}</span>: check that your device shows the same code.</p>
<p><strong>{{if .ClientName}}{{.ClientName}}{{else}}An application{{end}}</strong>
(client ID <code>{{.ClientID}}</code>) on another device asks for access to your account.</p>
{{if .ClientURIHost}}<p>It names <code>{{.ClientURIHost}}</code> as its website (unverified: any application can claim any website).</p>{{end}}
{{if .ClientIDHost}}<p>Its name and details are published by <strong>{{.ClientIDHost}}</strong>.</p>{{end}}
<p>Approve only if you started this sign-in yourself just now.</p>
{{template "grants" .}}
{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="user_code" value="{{.Request.UserCode}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{template "decide" .}}
</form>
{{else if .Form}}
<p>Enter the code shown on your device.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label>Code <input type="text" name="user_code" value="{{.Prefill}}" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus></label>
<button type="submit" name="action" value="lookup">Continue</button>
</form>
{{end}}
</body></html>
`))

type devicePageData struct {
	Title   string
	Message string
	Error   bool
	Request *DeviceRequest
	Form    bool
	Prefill string
	Action  string
	CSRF    string
	Login   bool
}

// Device is the built-in verification page of the device flow (RFC 8628 §3.3), served
// at {Issuer}/device when Config.LoginURL is empty. GET shows a form for the user code,
// prefilled from `user_code` (verification_uri_complete) but never looked up from the
// query; POST (CSRF-checked with a token bound to a cookie) looks the code up and shows
// who asks for what (client, scopes, MCP servers) with a login form, then approves or
// denies. User codes are never logged. Rate limit it (mcp does, RateLimits.UserCode):
// user codes are short.
func (p *Provider) Device(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	securityHeaders(w)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		secret, err := randid.New(randid.Secret)
		if err != nil {
			p.errorf(ctx, "device page", err)
			p.errorPage(w, r, http.StatusInternalServerError, fosite.ErrServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     deviceCSRFCookie,
			Value:    secret,
			Path:     p.endpoints.devicePath,
			MaxAge:   int(p.device.opts.Lifespan.Seconds()),
			HttpOnly: true,
			Secure:   p.secureCookies,
			SameSite: http.SameSiteStrictMode,
		})
		prefill := ""
		if code, ok := NormalizeUserCode(r.URL.Query().Get(UserCodeParam)); ok {
			prefill = FormatUserCode(code)
		}
		p.renderDevice(w, http.StatusOK, devicePageData{Title: "Connect a device", Form: true, Prefill: prefill, CSRF: p.csrfToken(secret, "device")})
	case http.MethodPost:
		if err := parsePostForm(w, r); err != nil {
			p.errorPage(w, r, http.StatusBadRequest, err)
			return
		}
		cookie, err := r.Cookie(deviceCSRFCookie)
		csrf := r.PostForm.Get("csrf_token")
		if err != nil || !hmac.Equal([]byte(csrf), []byte(p.csrfToken(cookie.Value, "device"))) {
			p.errorPage(w, r, http.StatusForbidden, fosite.ErrInvalidRequest.WithHint("The form has expired or was not submitted from this page (CSRF check failed). Open the page again."))
			return
		}
		p.devicePost(w, r, csrf)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.errorPage(w, r, http.StatusMethodNotAllowed, errMethodNotAllowed.WithHint("Use GET or POST."))
	}
}

// devicePost handles the verification page's lookup, approve and deny actions.
func (p *Provider) devicePost(w http.ResponseWriter, r *http.Request, csrf string) {
	ctx := r.Context()
	req, err := p.DeviceRequest(ctx, r.PostForm.Get(UserCodeParam))
	if err != nil {
		if !errors.Is(err, ErrDeviceRequestNotFound) {
			p.errorf(ctx, "device page", err)
			p.errorPage(w, r, http.StatusInternalServerError, fosite.ErrServerError)
			return
		}
		p.renderDevice(w, http.StatusBadRequest, devicePageData{Title: "Connect a device", Form: true, CSRF: csrf, Error: true,
			Message: "That code is unknown, expired or already used. Check the code on your device and try again."})
		return
	}
	switch r.PostForm.Get("action") {
	case "lookup":
		p.renderDevice(w, http.StatusOK, devicePageData{Title: "Connect a device", Request: req, CSRF: csrf, Login: p.cfg.Authenticator != nil})
	case "deny":
		if err := p.DenyDevice(ctx, req.UserCode); err != nil {
			p.deviceDone(w, r, err)
			return
		}
		p.renderDevice(w, http.StatusOK, devicePageData{Title: "Request denied", Message: "The device was not given access. You can close this page."})
	case "approve":
		if p.cfg.Authenticator == nil {
			p.renderDevice(w, http.StatusOK, devicePageData{Title: "Connect a device", Request: req, CSRF: csrf, Error: true, Message: "Logging in is not available on this server."})
			return
		}
		subject, err := p.cfg.Authenticator.Authenticate(ctx, r.PostForm.Get("username"), r.PostForm.Get("password"))
		if err != nil || subject == "" {
			p.log.InfoContext(ctx, "device login failed", "client_id", req.ClientID)
			p.renderDevice(w, http.StatusUnauthorized, devicePageData{Title: "Connect a device", Request: req, CSRF: csrf, Login: true, Error: true, Message: "Wrong username or password."})
			return
		}
		if err := p.ApproveDevice(ctx, req.UserCode, subject, req.Scopes); err != nil {
			p.deviceDone(w, r, err)
			return
		}
		p.renderDevice(w, http.StatusOK, devicePageData{Title: "Device connected", Message: "Access approved. Return to your device: it continues on its own."})
	default:
		p.errorPage(w, r, http.StatusBadRequest, fosite.ErrInvalidRequest.WithHint("Unknown action."))
	}
}

func (p *Provider) deviceDone(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrDeviceRequestNotFound) {
		p.renderDevice(w, http.StatusBadRequest, devicePageData{Title: "Connect a device", Error: true, Message: "That code is unknown, expired or already used. Start again on your device."})
		return
	}
	p.errorf(r.Context(), "device page", err)
	p.errorPage(w, r, http.StatusInternalServerError, fosite.ErrServerError)
}

func (p *Provider) renderDevice(w http.ResponseWriter, status int, d devicePageData) {
	d.Action = p.endpoints.devicePath
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(status)
	_ = devicePageTemplate.Execute(w, d)
}
