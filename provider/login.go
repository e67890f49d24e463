package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// pageParts returns a template named name holding the pieces the built-in login and
// consent page and the device verification page share: "head" (document head and
// style, from .Title), "grants" (the requested scopes and resources of the request in
// dot) and "decide" (the optional login fields, from .Login, and the approve and deny
// buttons).
func pageParts(name string) *template.Template {
	return template.Must(template.New(name).Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.5rem .75rem}.err{color:#a00}
.code{font-family:monospace;font-size:1.4rem;letter-spacing:.1em}
label{display:block;margin-top:.75rem}input[type=text],input[type=password]{width:100%;padding:.4rem}
button{margin-top:1rem;margin-right:.5rem;padding:.5rem 1rem}code{word-break:break-all}</style></head>
<body>
{{end}}{{define "grants"}}{{if .Scopes}}<p>Requested permissions:</p><ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .Resources}}<p>For use with:</p><ul>{{range .Resources}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{end}}{{define "decide"}}{{if .Login}}<label>Username <input type="text" name="username" autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>{{end}}
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny" formnovalidate>Deny</button>
{{end}}`))
}

var pageTemplate = template.Must(pageParts("page").Parse(`{{template "head" .}}
{{if .Request}}{{with .Request}}
<h1>Authorize {{if .ClientName}}{{.ClientName}}{{else}}{{.ClientID}}{{end}}</h1>
<p><strong>{{if .ClientName}}{{.ClientName}}{{else}}This application{{end}}</strong>
(client ID <code>{{.ClientID}}</code>) asks for access to your account.</p>
{{if .ClientURIHost}}<p>It names <code>{{.ClientURIHost}}</code> as its website (unverified: any application can claim any website).</p>{{end}}
{{if .ClientIDHost}}<p>Its name and details are published by <strong>{{.ClientIDHost}}</strong>.</p>{{end}}
<p>After you decide, you will be sent to <strong>{{.RedirectHost}}</strong>.</p>
{{if .LocalhostOnly}}<p class="warn">This application only receives responses on this computer (localhost).
Approve only if you started it yourself just now.</p>{{end}}
{{template "grants" .}}
{{end}}
{{if .Message}}<p class="err">{{.Message}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="{{.Param}}" value="{{.Request.ID}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{template "decide" .}}
</form>
{{else}}
<h1>{{.Title}}</h1>
<p class="err">{{.Message}}</p>
{{if .Link}}<p><a href="{{.Link}}">Return to the application</a> ({{.LinkHost}})</p>{{end}}
{{end}}
</body></html>
`))

type pageData struct {
	Title    string
	Message  string
	Link     template.URL // where to continue: an error redirect to a validated redirect URI the server does not follow itself (template.URL: private-use schemes such as cursor: are links too)
	LinkHost string
	Request  *AuthorizationRequest
	Action   string
	Param    string
	CSRF     string
	Login    bool
}

// securityHeaders blocks framing, caching and referrers on pages.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// errorPage renders an error that must not be redirected (unknown client, invalid
// redirect URI, …) as HTML, or as RFC 6749 JSON when the client prefers JSON.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if status == 0 {
		status = rfc.CodeField
		if status == 0 || status == http.StatusUnauthorized || status == http.StatusNotFound {
			status = http.StatusBadRequest
		}
	}
	securityHeaders(w)
	noteError(w, rfc.ErrorField)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfterStorage)
	}
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		writeJSONBody(w, errorBody{Error: rfc.ErrorField, ErrorDescription: ErrorDescription(rfc.GetDescription())})
		return
	}
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, pageData{Title: "Authorization error", Message: rfc.ErrorField + ": " + rfc.GetDescription()})
}

// errorPageWithLink shows err with a link to the client's error redirect link (which
// carries error, state and iss), for redirect URIs the server does not redirect to on its
// own (see trustedErrorRedirect).
func (p *Provider) errorPageWithLink(w http.ResponseWriter, r *http.Request, err error, link string) {
	rfc := fosite.ErrorToRFC6749Error(err)
	securityHeaders(w)
	noteError(w, rfc.ErrorField)
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusBadRequest)
		writeJSONBody(w, errorBody{Error: rfc.ErrorField, ErrorDescription: ErrorDescription(rfc.GetDescription())})
		return
	}
	host := DisplayHost(link)
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = pageTemplate.Execute(w, pageData{Title: "Authorization error", Message: rfc.ErrorField + ": " + rfc.GetDescription(), Link: template.URL(link), LinkHost: host})
}

// Login is the built-in minimal login and consent page, used when Config.LoginURL is
// empty. GET shows the pending request (client, redirect host, scopes, resources, a
// warning for localhost-only clients) with a login form; POST authenticates through
// Config.Authenticator and approves, or denies. Both need the browser-binding cookie the
// authorization endpoint set (another browser gets an error page), and POST a CSRF token
// derived from that cookie and the request ID: each pending request has its own, so
// several tabs work side by side. After Config.MaxLoginAttempts wrong passwords the
// pending request is cancelled.
func (p *Provider) Login(w http.ResponseWriter, r *http.Request) {
	r = watchStorage(r)
	securityHeaders(w)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		id := r.URL.Query().Get(LoginRequestParam)
		req, binding, err := p.loginView(r, id)
		if err != nil {
			p.loginError(w, r, err)
			return
		}
		p.renderLogin(w, http.StatusOK, req, p.csrfToken(binding, id), "")
	case http.MethodPost:
		if err := parsePostForm(w, r); err != nil {
			p.errorPage(w, r, http.StatusBadRequest, err)
			return
		}
		id := r.PostForm.Get(LoginRequestParam)
		if id == "" || !p.checkCSRF(r, id, r.PostForm.Get("csrf_token")) {
			p.errorPage(w, r, http.StatusForbidden, fosite.ErrInvalidRequest.WithHint("The form has expired or was not submitted from this page (CSRF check failed). Start again from the application."))
			return
		}
		switch r.PostForm.Get("action") {
		case "deny":
			u, err := p.Deny(r, id)
			if err != nil {
				p.loginError(w, r, err)
				return
			}
			p.ClearBrowserBinding(w, id)
			redirect(w, u)
		case "approve":
			p.loginAndApprove(w, r, id)
		default:
			p.errorPage(w, r, http.StatusBadRequest, fosite.ErrInvalidRequest.WithHint("Unknown action."))
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.errorPage(w, r, http.StatusMethodNotAllowed, errMethodNotAllowed.WithHint("Use GET or POST."))
	}
}

// loginAndApprove checks the posted password as one attempt on the pending request id
// (LoginAttempt) and approves the request for the user.
func (p *Provider) loginAndApprove(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	req, _, err := p.loginView(r, id)
	if err != nil {
		p.loginError(w, r, err)
		return
	}
	token := r.PostForm.Get("csrf_token")
	if p.cfg.Authenticator == nil {
		p.renderLogin(w, http.StatusOK, req, token, "Logging in is not available on this server.")
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	subject, err := p.LoginAttempt(r, id, func(ctx context.Context) (string, error) {
		return p.cfg.Authenticator.Authenticate(ctx, username, password)
	})
	if errors.Is(err, ErrLoginFailed) {
		p.log.InfoContext(ctx, "login failed", "client_id", req.ClientID)
		p.renderLogin(w, http.StatusUnauthorized, req, token, "Wrong username or password.")
		return
	}
	if err != nil {
		p.loginError(w, r, err)
		return
	}
	u, err := p.Approve(r, id, subject, req.Scopes)
	if u != "" { // the request is spent
		p.ClearBrowserBinding(w, id)
		redirect(w, u)
		return
	}
	p.loginError(w, r, err)
}

// loginView returns the pending request id for the login page and the value of its
// browser-binding cookie, if r comes from the browser it is bound to.
func (p *Provider) loginView(r *http.Request, id string) (*AuthorizationRequest, string, error) {
	pending, binding, err := p.boundPending(r, id)
	if err != nil {
		return nil, "", err
	}
	req, err := p.requestView(r.Context(), id, pending)
	return req, binding, err
}

func (p *Provider) renderLogin(w http.ResponseWriter, status int, req *AuthorizationRequest, csrf, msg string) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, pageData{
		Title:   "Authorize",
		Message: msg,
		Request: req,
		Action:  p.endpoints.loginPath,
		Param:   LoginRequestParam,
		CSRF:    csrf,
		Login:   p.cfg.Authenticator != nil,
	})
}

func (p *Provider) loginError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case storageFailed(r.Context(), err):
		p.errorPage(w, r, 0, p.storageDown(r.Context(), "login page", err))
	case errors.Is(err, ErrAuthorizationRequestNotFound):
		p.errorPage(w, r, http.StatusBadRequest, fosite.ErrInvalidRequest.WithHint("This authorization request is unknown, expired or already used. Start again from the application."))
	case errors.Is(err, ErrOtherBrowser):
		p.errorPage(w, r, http.StatusForbidden, fosite.ErrAccessDenied.WithHint("This authorization request was started in another browser, or its cookie has expired. Start again from the application, in this browser."))
	case errors.Is(err, ErrTooManyLoginAttempts):
		p.errorPage(w, r, http.StatusForbidden, fosite.ErrAccessDenied.WithHint("Too many wrong passwords: this authorization request is cancelled. Start again from the application."))
	case isRequestError(err):
		// The request failed its validation again at approval (the client's redirect URIs
		// changed since, say) and its redirect URI is not to be trusted with the error
		// (RFC 6749 §4.1.2.1): the client's fault, shown here.
		p.errorPage(w, r, 0, err)
	default:
		p.errorf(r.Context(), "login page", err)
		p.errorPage(w, r, http.StatusInternalServerError, fosite.ErrServerError)
	}
}

// isRequestError reports whether err is an RFC 6749 error about the request rather than
// the server (a 4xx).
func isRequestError(err error) bool {
	var rfc *fosite.RFC6749Error
	return errors.As(err, &rfc) && rfc.CodeField >= 400 && rfc.CodeField < 500
}

// csrfToken is the login form's CSRF token: the pending request's binding cookie value
// bound to its ID. A cross-site POST carries neither (the cookie is SameSite=Lax and
// HttpOnly, the token is only on the page).
func (p *Provider) csrfToken(binding, id string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(binding))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether token is the CSRF token of one of r's binding cookies for
// the pending request id (whether the cookie is the one bound to the request is checked
// against storage afterwards).
func (p *Provider) checkCSRF(r *http.Request, id, token string) bool {
	if token == "" {
		return false
	}
	name := p.bindingCookieName(id)
	for _, c := range r.Cookies() {
		if c.Name == name && hmac.Equal([]byte(token), []byte(p.csrfToken(c.Value, id))) {
			return true
		}
	}
	return false
}
