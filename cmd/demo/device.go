package main

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// devicePath is the verification page of the device flow (RFC 8628 §3.3), below the
// issuer's path: the provider's DeviceAuthorizationOptions.VerificationURI.
const devicePath = "/device"

// devicePage is the data of templates/device.html. Step is "enter" (the code form),
// "login", "consent" or "done".
type devicePage struct {
	Title, Base, Action, CSRF, Step      string
	UserCode, Error, Username, Message   string
	Approved                             bool
	Subject, UserName                    string
	ClientLabel, ClientName, ClientID    string
	ClientIDHost, ClientURIHost, Expires string
	Scopes                               []scopeView
	Resources                            []resourceView
	DemoUsers                            []credential
}

// device is the verification page: GET shows the code form, prefilled from
// verification_uri_complete's user_code but never looked up from the URL; every step
// after it is a POST carrying the code in the body, with a CSRF token bound to the
// session (and, for the decision, to the code). The user code never reaches the logs
// (the request log records paths only).
func (p *pages) device(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		sess, err := p.sessions.ensure(w, r)
		if err != nil {
			p.internal(w, r, err)
			return
		}
		prefill := ""
		if code, ok := provider.NormalizeUserCode(r.URL.Query().Get(provider.UserCodeParam)); ok {
			prefill = provider.FormatUserCode(code)
		}
		p.renderDevice(w, r, http.StatusOK, devicePage{Step: "enter", UserCode: prefill, CSRF: p.sessions.csrfToken(sess, "device")})
	case http.MethodPost:
		p.devicePost(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page only answers GET and POST.")
	}
}

func (p *pages) devicePost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readForm(w, r) {
		return
	}
	action := r.PostForm.Get("action")
	sess, ok, err := p.sessions.get(r)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	purpose := "device"
	code, _ := provider.NormalizeUserCode(r.PostForm.Get(provider.UserCodeParam))
	if action == "approve" || action == "deny" {
		purpose = "device\x00" + code
	}
	if !ok || !p.sessions.checkCSRF(sess, purpose, r.PostForm.Get("csrf_token")) {
		p.log.InfoContext(ctx, "device form refused: CSRF check failed", "action", action, "has_session", ok)
		p.fail(w, r, http.StatusForbidden, "Form expired",
			"This form has expired or was not submitted from this page (CSRF check failed). Open the page again.")
		return
	}
	req, err := p.provider.DeviceRequest(ctx, r.PostForm.Get(provider.UserCodeParam))
	if err != nil {
		if !errors.Is(err, provider.ErrDeviceRequestNotFound) {
			p.internal(w, r, err)
			return
		}
		p.log.InfoContext(ctx, "device code not found")
		p.renderDevice(w, r, http.StatusBadRequest, devicePage{Step: "enter", CSRF: p.sessions.csrfToken(sess, "device"),
			Error: "That code is unknown, expired or already used. Check the code on your device and try again."})
		return
	}
	switch action {
	case "lookup":
		p.deviceConsent(w, r, sess, req, "", "")
	case "login":
		username := strings.TrimSpace(r.PostForm.Get("username"))
		subject, err := p.users.Authenticate(ctx, username, r.PostForm.Get("password"))
		if err != nil {
			p.log.InfoContext(ctx, "login failed")
			p.deviceConsent(w, r, sess, req, "Wrong username or password.", username)
			return
		}
		if sess, err = p.sessions.start(ctx, w, subject); err != nil {
			p.internal(w, r, err)
			return
		}
		p.log.InfoContext(ctx, "login", "subject", subject)
		p.deviceConsent(w, r, sess, req, "", "")
	case "approve", "deny":
		if sess.Subject == "" || !p.users.known(sess.Subject) {
			p.deviceConsent(w, r, sess, req, "", "")
			return
		}
		if action == "approve" {
			err = p.provider.ApproveDevice(ctx, req.UserCode, sess.Subject, req.Scopes)
		} else {
			err = p.provider.DenyDeviceBy(ctx, req.UserCode, sess.Subject)
		}
		p.log.InfoContext(ctx, "device consent", "decision", action, "subject", sess.Subject, "client_id", req.ClientID, "ok", err == nil)
		switch {
		case errors.Is(err, provider.ErrDeviceRequestNotFound):
			p.fail(w, r, http.StatusBadRequest, "Code expired", "This code is unknown, has expired or was already answered.")
		case err != nil:
			p.internal(w, r, err)
		case action == "approve":
			p.renderDevice(w, r, http.StatusOK, devicePage{Step: "done", Title: "Device connected", Approved: true,
				Message: clientLabelOf(req.ClientName, req.ClientID) + " is connected. Return to your device: it continues on its own."})
		default:
			p.renderDevice(w, r, http.StatusOK, devicePage{Step: "done", Title: "Request denied",
				Message: clientLabelOf(req.ClientName, req.ClientID) + " was not given access."})
		}
	default:
		p.fail(w, r, http.StatusBadRequest, "Bad request", "Unknown action.")
	}
}

// readForm reads a posted form (bounded, form-encoded only), or answers with an error
// page and reports false.
func (p *pages) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		p.fail(w, r, http.StatusUnsupportedMediaType, "Bad request", "The form was not submitted as a form.")
		return false
	}
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// deviceConsent shows the login form (no signed-in user) or what the device asks for.
func (p *pages) deviceConsent(w http.ResponseWriter, r *http.Request, sess session, req *provider.DeviceRequest, loginError, username string) {
	label := clientLabelOf(req.ClientName, req.ClientID)
	if sess.Subject == "" || !p.users.known(sess.Subject) {
		status := http.StatusOK
		if loginError != "" {
			status = http.StatusUnauthorized
		}
		data := devicePage{Step: "login", Title: "Sign in", UserCode: req.UserCode, ClientLabel: label,
			CSRF: p.sessions.csrfToken(sess, "device"), Error: loginError, Username: username}
		if p.showUsers {
			data.DemoUsers = p.users.users
		}
		p.renderDevice(w, r, status, data)
		return
	}
	code, _ := provider.NormalizeUserCode(req.UserCode)
	p.renderDevice(w, r, http.StatusOK, devicePage{
		Step: "consent", Title: "Connect " + label, UserCode: req.UserCode,
		CSRF:    p.sessions.csrfToken(sess, "device\x00"+code),
		Subject: sess.Subject, UserName: p.users.displayName(sess.Subject),
		ClientLabel: label, ClientName: req.ClientName, ClientID: req.ClientID,
		ClientIDHost: req.ClientIDHost, ClientURIHost: req.ClientURIHost,
		Scopes: p.scopeViews(req.Scopes), Resources: p.resourceViews(req.Resources),
		Expires: expiresIn(time.Until(req.ExpiresAt)),
	})
}

func (p *pages) renderDevice(w http.ResponseWriter, r *http.Request, status int, data devicePage) {
	data.Base, data.Action = p.base, p.base+devicePath
	if data.Title == "" {
		data.Title = "Connect a device"
	}
	p.render(w, r, status, "device", data)
}

// scopeViews describes requested scopes for the consent pages.
func (p *pages) scopeViews(scopes []string) []scopeView {
	var out []scopeView
	for _, s := range scopes {
		d, ok := p.scopes[s]
		if !ok {
			d = "A permission this server does not describe."
		}
		out = append(out, scopeView{Name: s, Description: d})
	}
	return out
}

// resourceViews names the resources a token will be bound to, for the consent pages.
func (p *pages) resourceViews(resources []string) []resourceView {
	var out []resourceView
	for _, res := range resources {
		out = append(out, resourceView{Name: p.resources[res], URL: res})
	}
	return out
}

// clientLabelOf is what the pages call a client: its name, else its ID.
func clientLabelOf(name, id string) string {
	if name != "" {
		return name
	}
	return id
}
