package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"
)

// csrfCookie names the cookie holding the login form's CSRF secret.
const csrfCookie = "fosite_mcp_csrf"

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.5rem .75rem}.err{color:#a00}
label{display:block;margin-top:.75rem}input[type=text],input[type=password]{width:100%;padding:.4rem}
button{margin-top:1rem;margin-right:.5rem;padding:.5rem 1rem}code{word-break:break-all}</style></head>
<body>
{{if .Request}}{{with .Request}}
<h1>Authorize {{if .ClientName}}{{.ClientName}}{{else}}{{.ClientID}}{{end}}</h1>
<p><strong>{{if .ClientName}}{{.ClientName}}{{else}}This application{{end}}</strong>
(client ID <code>{{.ClientID}}</code>{{if .ClientURI}}, <code>{{.ClientURI}}</code>{{end}}) asks for access to your account.</p>
{{if .ClientIDHost}}<p>Its name and details are published by <strong>{{.ClientIDHost}}</strong>.</p>{{end}}
<p>After you decide, you will be sent to <strong>{{.RedirectHost}}</strong>.</p>
{{if .LocalhostOnly}}<p class="warn">This application only receives responses on this computer (localhost).
Approve only if you started it yourself just now.</p>{{end}}
{{if .Scopes}}<p>Requested permissions:</p><ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .Resources}}<p>For use with:</p><ul>{{range .Resources}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{end}}
{{if .Message}}<p class="err">{{.Message}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="{{.Param}}" value="{{.Request.ID}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{if .Login}}<label>Username <input type="text" name="username" autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>{{end}}
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny" formnovalidate>Deny</button>
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
	Link     string // where to continue (an error redirect the server does not follow itself)
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
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfterStorage)
	}
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		writeJSONBody(w, errorBody{Error: rfc.ErrorField, ErrorDescription: rfc.GetDescription()})
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
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusBadRequest)
		writeJSONBody(w, errorBody{Error: rfc.ErrorField, ErrorDescription: rfc.GetDescription()})
		return
	}
	host := ""
	if u, perr := url.Parse(link); perr == nil {
		host = u.Host
	}
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = pageTemplate.Execute(w, pageData{Title: "Authorization error", Message: rfc.ErrorField + ": " + rfc.GetDescription(), Link: link, LinkHost: host})
}

// Login is the built-in minimal login and consent page, used when Config.LoginURL is
// empty. GET shows the pending request (client, redirect host, scopes, resources, a
// warning for localhost-only clients) with a login form; POST (CSRF-checked with a
// token bound to a cookie and to the request) authenticates through
// Config.Authenticator and approves, or denies.
func (p *Provider) Login(w http.ResponseWriter, r *http.Request) {
	r = watchStorage(r)
	ctx := r.Context()
	securityHeaders(w)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		id := r.URL.Query().Get(LoginRequestParam)
		req, err := p.AuthorizationRequest(ctx, id)
		if err != nil {
			p.loginError(w, r, err)
			return
		}
		secret, err := randomID()
		if err != nil {
			p.loginError(w, r, err)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     csrfCookie,
			Value:    secret,
			Path:     p.endpoints.loginPath,
			MaxAge:   int(p.cfg.PendingAuthorizationLifespan.Seconds()),
			HttpOnly: true,
			Secure:   p.secureCookies,
			SameSite: http.SameSiteStrictMode,
		})
		p.renderLogin(w, http.StatusOK, req, p.csrfToken(secret, id), "")
	case http.MethodPost:
		if err := parsePostForm(w, r); err != nil {
			p.errorPage(w, r, http.StatusBadRequest, err)
			return
		}
		id := r.PostForm.Get(LoginRequestParam)
		cookie, err := r.Cookie(csrfCookie)
		if err != nil || id == "" || !hmac.Equal([]byte(r.PostForm.Get("csrf_token")), []byte(p.csrfToken(cookie.Value, id))) {
			p.errorPage(w, r, http.StatusForbidden, fosite.ErrInvalidRequest.WithHint("The form has expired or was not submitted from this page (CSRF check failed). Start again from the application."))
			return
		}
		switch r.PostForm.Get("action") {
		case "deny":
			u, err := p.Deny(ctx, id)
			if err != nil {
				p.loginError(w, r, err)
				return
			}
			redirect(w, u)
		case "approve":
			req, err := p.AuthorizationRequest(ctx, id)
			if err != nil {
				p.loginError(w, r, err)
				return
			}
			if p.cfg.Authenticator == nil {
				p.renderLogin(w, http.StatusOK, req, r.PostForm.Get("csrf_token"), "Logging in is not available on this server.")
				return
			}
			subject, err := p.cfg.Authenticator.Authenticate(ctx, r.PostForm.Get("username"), r.PostForm.Get("password"))
			if err != nil || subject == "" {
				p.log.InfoContext(ctx, "login failed", "client_id", req.ClientID)
				p.renderLogin(w, http.StatusUnauthorized, req, r.PostForm.Get("csrf_token"), "Wrong username or password.")
				return
			}
			u, err := p.Approve(ctx, id, subject, req.Scopes)
			if u != "" {
				redirect(w, u)
				return
			}
			p.loginError(w, r, err)
		default:
			p.errorPage(w, r, http.StatusBadRequest, fosite.ErrInvalidRequest.WithHint("Unknown action."))
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.errorPage(w, r, http.StatusMethodNotAllowed, errMethodNotAllowed.WithHint("Use GET or POST."))
	}
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
	if errors.Is(err, ErrAuthorizationRequestNotFound) {
		p.errorPage(w, r, http.StatusBadRequest, fosite.ErrInvalidRequest.WithHint("This authorization request is unknown, expired or already used. Start again from the application."))
		return
	}
	if storageFailed(r.Context(), err) {
		p.errorPage(w, r, 0, p.storageDown(r.Context(), "login page", err))
		return
	}
	p.errorf(r.Context(), "login page", err)
	p.errorPage(w, r, http.StatusInternalServerError, fosite.ErrServerError)
}

// csrfToken binds the cookie secret to the authorization request ID.
func (p *Provider) csrfToken(cookieSecret, id string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(cookieSecret))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
