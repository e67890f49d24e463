package main

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// connectedAppsPath is the signed-in user's "Connected apps" page, below the issuer's
// path: the MCP clients holding access to the account (provider.ListGrants), each
// revocable on its own (provider.RevokeGrant) or all at once (provider.RevokeAllGrants).
const connectedAppsPath = "/connected-apps"

// connectedAppsPurpose is the CSRF purpose of the page's forms.
const connectedAppsPurpose = "connected-apps"

// connectedAppsPage is the data of templates/connected-apps.html. Without a signed-in
// user (Subject empty) it is the sign-in form.
type connectedAppsPage struct {
	Title, Base, Action, CSRF string
	Subject, UserName         string
	Error, Username, Message  string
	Apps                      []appView
	Next                      string // the next page's URL; empty on the last page
	DemoUsers                 []credential
}

// appView is one grant on the page.
type appView struct {
	ID, Label, ClientID, ClientIDHost           string
	Scopes                                      []scopeView
	Resources                                   []resourceView
	FirstGranted, LastUsed, Expires, Remembered string
}

// connectedApps answers GET (the list, or the sign-in form) and POST (login, revoke,
// revoke-all, each with a CSRF token bound to the session).
func (p *pages) connectedApps(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		sess, err := p.sessions.ensure(w, r)
		if err != nil {
			p.internal(w, r, err)
			return
		}
		p.showConnectedApps(w, r, sess, http.StatusOK, connectedAppsPage{Message: flash(r.URL.Query().Get("done"))})
	case http.MethodPost:
		p.connectedAppsPost(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page only answers GET and POST.")
	}
}

// flash is the message shown after a POST redirected back to the page.
func flash(done string) string {
	switch done {
	case "revoked":
		return "Access revoked. That application must ask you again before it can use your account."
	case "revoked-all":
		return "Every application's access was revoked."
	}
	return ""
}

func (p *pages) connectedAppsPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.readForm(w, r) {
		return
	}
	sess, ok, err := p.sessions.get(r)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	action := r.PostForm.Get("action")
	if !ok || !p.sessions.checkCSRF(sess, connectedAppsPurpose, r.PostForm.Get("csrf_token")) {
		p.log.InfoContext(ctx, "connected apps form refused: CSRF check failed", "action", action, "has_session", ok)
		p.fail(w, r, http.StatusForbidden, "Form expired",
			"This form has expired or was not submitted from this page (CSRF check failed). Open the page again.")
		return
	}
	back := p.base + connectedAppsPath
	if action == "login" {
		username := strings.TrimSpace(r.PostForm.Get("username"))
		subject, err := p.users.Authenticate(ctx, username, r.PostForm.Get("password"))
		if err != nil {
			p.log.InfoContext(ctx, "login failed")
			p.showConnectedApps(w, r, sess, http.StatusUnauthorized, connectedAppsPage{Error: "Wrong username or password.", Username: username})
			return
		}
		p.signedIn(w, r, sess, subject, back)
		return
	}
	if sess.Subject == "" || !p.users.known(sess.Subject) {
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	switch action {
	case "revoke":
		err := p.provider.RevokeGrant(ctx, sess.Subject, r.PostForm.Get("grant"))
		if err != nil && !errors.Is(err, provider.ErrGrantNotFound) { // gone already: nothing to do
			p.internal(w, r, err)
			return
		}
		http.Redirect(w, r, back+"?done=revoked", http.StatusSeeOther)
	case "revoke-all":
		if _, err := p.provider.RevokeAllGrants(ctx, sess.Subject); err != nil {
			p.internal(w, r, err)
			return
		}
		http.Redirect(w, r, back+"?done=revoked-all", http.StatusSeeOther)
	default:
		p.fail(w, r, http.StatusBadRequest, "Bad request", "Unknown action.")
	}
}

// showConnectedApps renders the sign-in form (no signed-in user) or the user's grants,
// a page at a time (the "after" query parameter is the grants API's cursor).
func (p *pages) showConnectedApps(w http.ResponseWriter, r *http.Request, sess session, status int, data connectedAppsPage) {
	data.Base, data.Action = p.base, p.base+connectedAppsPath
	data.CSRF = p.sessions.csrfToken(sess, connectedAppsPurpose)
	if sess.Subject == "" || !p.users.known(sess.Subject) {
		data.Title = "Sign in"
		if p.showUsers {
			data.DemoUsers = p.users.users
		}
		p.render(w, r, status, "connected-apps", data)
		return
	}
	data.Title, data.Subject, data.UserName = "Connected apps", sess.Subject, p.users.displayName(sess.Subject)
	page, err := p.provider.ListGrants(r.Context(), sess.Subject, &provider.ListGrantsOptions{Cursor: r.URL.Query().Get("after")})
	if errors.Is(err, provider.ErrInvalidGrantCursor) {
		p.fail(w, r, http.StatusBadRequest, "Bad request", "That page of the list does not exist. Open the page again.")
		return
	}
	if err != nil {
		p.internal(w, r, err)
		return
	}
	for _, g := range page.Grants {
		v := appView{
			ID: g.ID, Label: clientLabelOf(g.ClientName, g.ClientID), ClientID: g.ClientID, ClientIDHost: g.ClientIDHost,
			Scopes: p.scopeViews(g.Scopes), Resources: p.resourceViews(g.Resources),
			FirstGranted: day(g.FirstGrantedAt), LastUsed: ago(time.Since(g.LastUsedAt)), Expires: "never",
		}
		if !g.ExpiresAt.IsZero() {
			v.Expires = day(g.ExpiresAt)
		}
		if !g.ConsentRememberedUntil.IsZero() {
			v.Remembered = day(g.ConsentRememberedUntil)
		}
		data.Apps = append(data.Apps, v)
	}
	if page.NextCursor != "" {
		data.Next = p.base + connectedAppsPath + "?" + url.Values{"after": {page.NextCursor}}.Encode()
	}
	p.render(w, r, status, "connected-apps", data)
}

// day formats a date for the page.
func day(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

// ago says how long ago something happened, in words.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	default:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
}

// plural is "1 day", "2 days".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
