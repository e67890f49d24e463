package provider

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/internal/randid"
)

// ErrOtherBrowser is returned by AuthorizationRequest, Approve and Deny when the HTTP
// request does not come from the browser that sent the authorization request: it lacks
// the cookie the authorization endpoint set there (another browser, or the cookie
// expired or was cleared). Show an error page and do not redirect to the client: someone
// may be trying to answer another user's request (login CSRF).
var ErrOtherBrowser = errors.New("provider: the authorization request was started in another browser")

// bindingCookiePrefix starts the name of every browser-binding cookie; the rest of the
// name is derived from the pending request's ID, so that several pending requests (two
// tabs, two applications) each keep their own cookie.
const bindingCookiePrefix = "fosite_mcp_authz_"

// bindingCookieName names the browser-binding cookie of pending request id. Over https
// it carries the __Secure- prefix, which browsers accept only with the Secure attribute.
func (p *Provider) bindingCookieName(id string) string {
	sum := sha256.Sum256([]byte("fosite-mcp binding cookie\x00" + id))
	name := bindingCookiePrefix + base64.RawURLEncoding.EncodeToString(sum[:9])
	if p.secureCookies {
		name = "__Secure-" + name
	}
	return name
}

// bindBrowser sets the cookie binding pending request id to the browser that sent it: a
// fresh random value (never one the browser already has, which a sibling host could have
// planted), HttpOnly, Secure over https, SameSite=Lax (it must reach the login page at
// the end of the cross-site redirect chain that starts at the client, but not cross-site
// POSTs) and scoped to the login page's path. It returns the hash to store with the
// request.
func (p *Provider) bindBrowser(w http.ResponseWriter, id string) (string, error) {
	value, err := randid.New(randid.Secret)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     p.bindingCookieName(id),
		Value:    value,
		Path:     p.endpoints.loginCookiePath,
		MaxAge:   int(p.cfg.PendingAuthorizationLifespan.Seconds()),
		HttpOnly: true,
		Secure:   p.secureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	return bindingHash(value), nil
}

// ClearBrowserBinding expires the browser-binding cookie of pending request id (a
// Set-Cookie with Max-Age=0, same name, path and attributes), so that answered requests
// leave no cookies behind: the built-in login page calls it once Approve or Deny has
// answered the request; a consent page of your own (Config.LoginURL) calls it before it
// sends the browser to the URL Approve, ApproveRemembered or Deny returned.
func (p *Provider) ClearBrowserBinding(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     p.bindingCookieName(id),
		Value:    "",
		Path:     p.endpoints.loginCookiePath,
		MaxAge:   -1, // sent as Max-Age=0: delete now
		HttpOnly: true,
		Secure:   p.secureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

// bindingHash is what storage keeps of a binding cookie's value.
func bindingHash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// boundValue returns the value of r's binding cookie for pending, or ErrOtherBrowser. A
// browser may send several cookies of that name (one planted for a parent domain, for
// instance): any one matching the stored hash will do.
func (p *Provider) boundValue(r *http.Request, id string, pending *PendingAuthorization) (string, error) {
	if pending.BrowserBinding == "" {
		return "", ErrOtherBrowser
	}
	name := p.bindingCookieName(id)
	for _, c := range r.Cookies() {
		if c.Name == name && subtle.ConstantTimeCompare([]byte(bindingHash(c.Value)), []byte(pending.BrowserBinding)) == 1 {
			return c.Value, nil
		}
	}
	return "", ErrOtherBrowser
}

// loginCookiePath returns the path the binding cookie is scoped to for loginURL, which
// must be on issuer's origin: an absolute path, or a URL with the issuer's scheme and
// host (a cookie the authorization endpoint sets reaches no other host).
func loginCookiePath(issuer, loginURL string) (string, error) {
	u, err := url.Parse(loginURL)
	if err != nil {
		return "", fmt.Errorf("provider: Config.LoginURL: %w", err)
	}
	iss, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("provider: Config.Issuer: %w", err)
	}
	if u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		if u.Scheme != iss.Scheme || !strings.EqualFold(u.Host, iss.Host) || u.User != nil || u.Opaque != "" {
			return "", errors.New("provider: Config.LoginURL must be on the issuer's origin (same scheme and host, or an absolute path): " +
				"the browser-binding cookie of pending authorization requests must reach it")
		}
	}
	switch {
	case u.Path == "" && u.Host != "":
		return "/", nil
	case !strings.HasPrefix(u.Path, "/"):
		return "", errors.New("provider: Config.LoginURL must be an absolute path or URL")
	}
	return u.Path, nil
}
