package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// Paths of the pages, below the issuer's path.
const (
	consentPath = "/consent"
	stylePath   = "/static/style.css"
)

// authRequestParam is the form field and query parameter naming the pending request.
const authRequestParam = provider.LoginRequestParam

// maxFormBytes bounds a posted form.
const maxFormBytes = 16 << 10

// pages serves the login and consent pages (the provider's Config.LoginURL) and the
// home page. Every string a client registered (name, URIs, client ID) reaches the user
// through html/template, which escapes it for its context.
type pages struct {
	provider  *provider.Provider
	sessions  *sessions
	users     *userDirectory
	base      string // issuer path, "" for a root issuer
	showUsers bool   // print the demo users' passwords on the pages (loopback issuers)
	scopes    map[string]string
	resources map[string]string // canonical URL → name
	home      homePage
	tmpl      map[string]*template.Template
	log       *slog.Logger
	limit     func(http.Handler) http.Handler // the login rate limit
	// limitUserCode is the user code entry limit of the device page (mcp.Server.LimitUserCode).
	limitUserCode func(http.Handler) http.Handler
}

// scopeView is a requested scope with its description.
type scopeView struct{ Name, Description string }

// resourceView is a resource the token will be bound to.
type resourceView struct{ Name, URL string }

// toolView describes a tool on the home page.
type toolView struct{ Name, Description, Scope string }

type loginPage struct {
	Title, Base, Action, AuthRequest, CSRF string
	ClientLabel                            string
	Error, Username                        string
	DemoUsers                              []credential
}

type consentPage struct {
	Title, Base, Action, AuthRequest, CSRF    string
	Subject, UserName                         string
	ClientLabel, ClientName, ClientID         string
	ClientIDHost, ClientURIHost, RedirectHost string
	LocalhostOnly                             bool
	Scopes                                    []scopeView
	Resources                                 []resourceView
	Expires                                   string
}

type errorPage struct {
	Title, Base, Message string
}

type homePage struct {
	Title, Base, MCPURL, Issuer, MetadataURL string
	Clients, Tokens                          string
	Tools                                    []toolView
	DemoUsers                                []credential
}

func parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "consent", "error", "home", "device", "connected-apps"} {
		t, err := template.New(name).ParseFS(templateFS, "templates/base.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// register mounts the pages on mux.
func (p *pages) register(mux *http.ServeMux) {
	// The login and consent page is where passwords are tried: it has the login rate
	// limit (mcp.RateLimits.Login).
	mux.Handle(p.base+consentPath, p.limit(http.HandlerFunc(p.consent)))
	// The device verification page takes user codes: the user code limit on its POSTs
	// (mcp.RateLimits.UserCode) and, as passwords are tried there too, the login limit.
	mux.Handle(p.base+devicePath, p.limit(p.limitUserCode(http.HandlerFunc(p.device))))
	// Its sign-in form tries passwords too: the login rate limit.
	mux.Handle(p.base+connectedAppsPath, p.limit(http.HandlerFunc(p.connectedApps)))
	mux.HandleFunc("GET "+p.base+stylePath, p.style)
	mux.HandleFunc("GET "+p.base+"/{$}", p.homePage)
}

// pageHeaders are set on every HTML page: no framing (clickjacking on the Approve
// button), no caching, no referrer (the page URL names the pending request), and a CSP
// that allows nothing but our stylesheet.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, name+".html", data); err != nil {
		p.log.ErrorContext(r.Context(), "rendering page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func (p *pages) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	p.render(w, r, status, "error", errorPage{Title: title, Base: p.base, Message: msg})
}

func (p *pages) style(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(styleCSS)
}

func (p *pages) homePage(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "home", p.home)
}

// consentURL is where the browser goes back to after logging in or switching users.
func (p *pages) consentURL(id string) string {
	return p.base + consentPath + "?" + url.Values{authRequestParam: {id}}.Encode()
}

// consent is the provider's login URL: GET shows the login form (no session) or the
// consent page; POST logs in, approves, denies or switches the user, always checking a
// CSRF token bound to the session and the pending request.
func (p *pages) consent(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.show(w, r, r.URL.Query().Get(authRequestParam), "", "")
	case http.MethodPost:
		p.post(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page only answers GET and POST.")
	}
}

// show renders the login form or the consent page for the pending request id.
func (p *pages) show(w http.ResponseWriter, r *http.Request, id, loginError, username string) {
	req, ok := p.pending(w, r, id)
	if !ok {
		return
	}
	sess, err := p.sessions.ensure(w, r)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	if sess.Subject == "" || !p.users.known(sess.Subject) {
		status := http.StatusOK
		if loginError != "" {
			status = http.StatusUnauthorized
		}
		data := loginPage{
			Title: "Sign in", Base: p.base, Action: p.base + consentPath, AuthRequest: id,
			CSRF:        p.sessions.csrfToken(sess, "login\x00"+id),
			ClientLabel: clientLabel(req), Error: loginError, Username: username,
		}
		if p.showUsers {
			data.DemoUsers = p.users.users
		}
		p.render(w, r, status, "login", data)
		return
	}
	// Approved before (provider.Config.RememberConsent): no need to ask again.
	if target, ok, err := p.provider.ApproveRemembered(r, id, sess.Subject); ok || err != nil {
		p.log.InfoContext(r.Context(), "consent", "decision", "remembered", "subject", sess.Subject, "client_id", req.ClientID, "ok", err == nil)
		if target != "" {
			p.provider.ClearBrowserBinding(w, id)
			p.leave(w, target)
			return
		}
		p.pendingError(w, r, err)
		return
	}
	data := consentPage{
		Title: "Authorize " + clientLabel(req), Base: p.base, Action: p.base + consentPath, AuthRequest: id,
		CSRF:    p.sessions.csrfToken(sess, "consent\x00"+id),
		Subject: sess.Subject, UserName: p.users.displayName(sess.Subject),
		ClientLabel: clientLabel(req), ClientName: req.ClientName, ClientID: req.ClientID,
		ClientIDHost: req.ClientIDHost, ClientURIHost: req.ClientURIHost,
		RedirectHost: req.RedirectHost, LocalhostOnly: req.LocalhostOnly,
		Expires: expiresIn(time.Until(req.ExpiresAt)),
	}
	data.Scopes, data.Resources = p.scopeViews(req.Scopes), p.resourceViews(req.Resources)
	p.render(w, r, http.StatusOK, "consent", data)
}

// post handles the login, approve, deny and switch actions.
func (p *pages) post(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readForm(w, r) {
		return
	}
	id := r.PostForm.Get(authRequestParam)
	action := r.PostForm.Get("action")
	token := r.PostForm.Get("csrf_token")
	sess, ok, err := p.sessions.get(r)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	purpose := "consent\x00" + id
	if action == "login" {
		purpose = "login\x00" + id
	}
	if !ok || id == "" || !p.sessions.checkCSRF(sess, purpose, token) {
		p.log.InfoContext(ctx, "consent form refused: CSRF check failed", "action", action, "has_session", ok)
		p.fail(w, r, http.StatusForbidden, "Form expired",
			"This form has expired or was not submitted from this page (CSRF check failed). Start again from the application.")
		return
	}
	switch action {
	case "login":
		// Each password counts against the pending request (provider.Config.MaxLoginAttempts),
		// on top of the per-address rate limit.
		username, password := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
		subject, err := p.provider.LoginAttempt(r, id, func(ctx context.Context) (string, error) {
			return p.users.Authenticate(ctx, username, password)
		})
		if errors.Is(err, provider.ErrLoginFailed) {
			p.log.InfoContext(ctx, "login failed")
			p.show(w, r, id, "Wrong username or password.", username)
			return
		}
		if err != nil {
			p.pendingError(w, r, err)
			return
		}
		p.signedIn(w, r, sess, subject, p.consentURL(id))
	case "switch":
		// "Not you?": log out for good (the old cookie is refused from now on), then
		// start an anonymous session for the login form.
		if err := p.sessions.end(ctx, sess); err != nil {
			p.internal(w, r, err)
			return
		}
		if sess.Subject != "" {
			p.log.InfoContext(ctx, "logout", "subject", sess.Subject)
		}
		if _, err := p.sessions.start(ctx, w, ""); err != nil {
			p.internal(w, r, err)
			return
		}
		http.Redirect(w, r, p.consentURL(id), http.StatusSeeOther)
	case "approve", "deny":
		if sess.Subject == "" || !p.users.known(sess.Subject) {
			http.Redirect(w, r, p.consentURL(id), http.StatusSeeOther)
			return
		}
		req, ok := p.pending(w, r, id)
		if !ok {
			return
		}
		var target string
		var err error
		if action == "approve" {
			target, err = p.provider.Approve(r, id, sess.Subject, req.Scopes)
		} else {
			target, err = p.provider.DenyBy(r, id, sess.Subject)
		}
		p.log.InfoContext(ctx, "consent", "decision", action, "subject", sess.Subject, "client_id", req.ClientID, "ok", err == nil)
		if target != "" { // Approve may fail with a redirect carrying the client's error
			p.provider.ClearBrowserBinding(w, id) // the request is spent
			p.leave(w, target)
			return
		}
		p.pendingError(w, r, err)
	default:
		p.fail(w, r, http.StatusBadRequest, "Bad request", "Unknown action.")
	}
}

// signedIn replaces the browser's session sess by a new one for subject, who has just
// given the right password (a fresh session ID: no session fixation), and sends the
// browser to next.
func (p *pages) signedIn(w http.ResponseWriter, r *http.Request, sess session, subject, next string) {
	ctx := r.Context()
	if err := p.sessions.end(ctx, sess); err != nil {
		p.internal(w, r, err)
		return
	}
	if _, err := p.sessions.start(ctx, w, subject); err != nil {
		p.internal(w, r, err)
		return
	}
	p.log.InfoContext(ctx, "login", "subject", subject)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// leave sends the browser to the client's redirect URI.
func (p *pages) leave(w http.ResponseWriter, target string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// pending loads the pending request id, or answers with an error page.
func (p *pages) pending(w http.ResponseWriter, r *http.Request, id string) (*provider.AuthorizationRequest, bool) {
	if id == "" {
		p.fail(w, r, http.StatusBadRequest, "Nothing to authorize",
			"This page is where applications send you to sign in and approve access; no application sent you here.")
		return nil, false
	}
	req, err := p.provider.AuthorizationRequest(r, id)
	if err != nil {
		p.pendingError(w, r, err)
		return nil, false
	}
	return req, true
}

func (p *pages) pendingError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, provider.ErrAuthorizationRequestNotFound):
		p.fail(w, r, http.StatusBadRequest, "Request expired",
			"This authorization request is unknown, has expired or was already answered.")
	case errors.Is(err, provider.ErrTooManyLoginAttempts):
		p.fail(w, r, http.StatusForbidden, "Too many attempts",
			"Too many wrong passwords: this authorization request is cancelled. Start again from the application.")
	case errors.Is(err, provider.ErrOtherBrowser):
		p.log.InfoContext(r.Context(), "consent page refused: request started in another browser")
		p.fail(w, r, http.StatusForbidden, "Wrong browser",
			"This authorization request was started in another browser, or its cookie has expired. "+
				"Start again from the application, in this browser.")
	default:
		p.internal(w, r, err)
	}
}

func (p *pages) internal(w http.ResponseWriter, r *http.Request, err error) {
	p.log.ErrorContext(r.Context(), "consent page", "err", err)
	p.fail(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not handle this request. Try again later.")
}

// clientLabel is what the pages call the client: its name, else its ID.
func clientLabel(req *provider.AuthorizationRequest) string {
	return clientLabelOf(req.ClientName, req.ClientID)
}

// expiresIn says when a pending request expires, in words.
func expiresIn(d time.Duration) string {
	switch {
	case d <= 0:
		return "now"
	case d < 90*time.Second:
		return "in about a minute"
	default:
		return fmt.Sprintf("in %d minutes", int(d.Round(time.Minute)/time.Minute))
	}
}

// autoApprover returns the provider's AutoApprove function for subject. It approves
// only requests answered on this machine: an http redirect URI on a loopback host, and
// every redirect URI of the client of that kind. A web page the developer happens to
// visit could otherwise register a client with its own https redirect URI and collect a
// token for subject; a private-use scheme (com.example.app:, cursor:) hands the code to
// whichever application claims the scheme, not to a socket on this machine (issue 14
// finding 1). Other requests go to the login page as usual.
func autoApprover(subject string, log *slog.Logger) func(context.Context, *provider.AuthorizationRequest) (string, bool) {
	return func(ctx context.Context, req *provider.AuthorizationRequest) (string, bool) {
		local := localRedirect(req.RedirectURI)
		if req.Client != nil {
			for _, u := range req.Client.RedirectURIs {
				local = local && localRedirect(u)
			}
		}
		if !local {
			log.InfoContext(ctx, "not auto-approved: the client's redirect URIs leave this machine", "client_id", req.ClientID)
			return "", false
		}
		log.InfoContext(ctx, "auto-approved", "subject", subject, "client_id", req.ClientID, "scopes", strings.Join(req.Scopes, " "))
		return subject, true
	}
}

// localRedirect reports whether a redirect URI stays on this machine: a valid redirect
// URI (provider.ValidateRedirectURI) using http on a loopback host (RFC 8252 §7.3).
func localRedirect(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "http" && loopback.IsHost(u.Hostname()) && provider.ValidateRedirectURI(raw) == nil
}
