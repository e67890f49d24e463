package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Session cookie names. Over https the cookie gets the __Host- prefix, which makes the
// browser insist on Secure, Path=/ and no Domain, so that no other host (a sibling
// subdomain, for instance) can plant or overwrite it.
const (
	sessionCookie       = "demo_session"
	secureSessionCookie = "__Host-demo_session"
)

// sessionLifetime is how long a login lasts.
const sessionLifetime = 8 * time.Hour

// session is a browser session of the pages: a random ID (anonymous visitors get one too,
// so that the login form's CSRF token has something to be bound to) and, once the user
// logged in, the subject.
type session struct {
	ID      string
	Subject string
	Expires time.Time
}

// sessions issues and reads session cookies. A cookie is "id.subject.expiry.mac", the
// MAC an HMAC-SHA256 under a key derived from the server's global secret: the server keeps
// no session state, and sessions survive restarts (the secret persists). Logging out
// clears the cookie; a stolen cookie stays valid until it expires, which is acceptable
// for a demo and is why the lifetime is short.
type sessions struct {
	macKey  []byte
	csrfKey []byte
	secure  bool
	name    string
	now     func() time.Time
}

func newSessions(globalSecret []byte, secure bool) *sessions {
	s := &sessions{
		macKey:  deriveKey(globalSecret, "demo session cookie"),
		csrfKey: deriveKey(globalSecret, "demo csrf token"),
		secure:  secure,
		name:    sessionCookie,
		now:     time.Now,
	}
	if secure {
		s.name = secureSessionCookie
	}
	return s
}

// deriveKey derives a purpose-bound key from secret.
func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("fosite-mcp demo\x00" + label))
	return m.Sum(nil)
}

// get returns the request's valid session, if any.
func (s *sessions) get(r *http.Request) (session, bool) {
	c, err := r.Cookie(s.name)
	if err != nil {
		return session{}, false
	}
	payload, mac, ok := strings.Cut(c.Value, "~")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.mac(payload))) {
		return session{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return session{}, false
	}
	subject, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return session{}, false
	}
	sess := session{ID: parts[0], Subject: string(subject), Expires: time.Unix(exp, 0)}
	if parts[0] == "" || !s.now().Before(sess.Expires) {
		return session{}, false
	}
	return sess, true
}

// ensure returns the request's session, starting an anonymous one when there is none.
func (s *sessions) ensure(w http.ResponseWriter, r *http.Request) (session, error) {
	if sess, ok := s.get(r); ok {
		return sess, nil
	}
	return s.start(w, "")
}

// start begins a new session for subject ("" for an anonymous visitor) with a fresh ID,
// so that logging in never keeps an ID someone else may know (session fixation).
func (s *sessions) start(w http.ResponseWriter, subject string) (session, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return session{}, err
	}
	sess := session{
		ID:      base64.RawURLEncoding.EncodeToString(b[:]),
		Subject: subject,
		Expires: s.now().Add(sessionLifetime).Truncate(time.Second),
	}
	payload := sess.ID + "." + base64.RawURLEncoding.EncodeToString([]byte(subject)) + "." +
		strconv.FormatInt(sess.Expires.Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name:     s.name,
		Value:    payload + "~" + s.mac(payload),
		Path:     "/",
		Expires:  sess.Expires,
		MaxAge:   int(sessionLifetime.Seconds()),
		HttpOnly: true,
		Secure:   s.secure,
		// Lax, not Strict: the user arrives at the consent page through a cross-site
		// redirect chain that starts at the client; Strict would hide the login there.
		// Lax still withholds the cookie from cross-site POSTs.
		SameSite: http.SameSiteLaxMode,
	})
	return sess, nil
}

// clear removes the session cookie.
func (s *sessions) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (s *sessions) mac(payload string) string {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfToken returns the CSRF token for a form posted in sess about purpose (the form and
// the authorization request it acts on): bound to the session, so a token taken from one
// browser is worthless in another, and to the request, so it cannot approve another one.
func (s *sessions) csrfToken(sess session, purpose string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(sess.ID))
	m.Write([]byte{0})
	m.Write([]byte(sess.Subject))
	m.Write([]byte{0})
	m.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether token is sess's CSRF token for purpose.
func (s *sessions) checkCSRF(sess session, purpose, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.csrfToken(sess, purpose)))
}
