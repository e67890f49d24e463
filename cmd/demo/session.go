package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
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

// sessionTable holds the logged-in sessions: a row per login, keyed by the SHA-256 of the
// session ID (the cookie's ID never reaches the database), deleted at logout.
const sessionTable = "demo_sessions"

// sessions issues and reads session cookies. A cookie is "id.subject.expiry~mac", the
// MAC an HMAC-SHA256 under a key derived from the server's global secret, so a cookie
// cannot be forged. A logged-in session must also have its row in sessionTable, in the
// demo's database: logging out ("Not you?") deletes the row, and the old cookie is
// refused from then on — on every replica sharing the database, and across restarts.
// Anonymous sessions (which only anchor the login form's CSRF token) have no row.
type sessions struct {
	macKey  []byte
	csrfKey []byte
	secure  bool
	name    string
	db      *gorm.DB
	now     func() time.Time
}

// newSessions returns the session codec; db holds sessionTable (see migrateSessions).
func newSessions(globalSecret []byte, secure bool, db *gorm.DB) *sessions {
	s := &sessions{
		macKey:  deriveKey(globalSecret, "demo session cookie"),
		csrfKey: deriveKey(globalSecret, "demo csrf token"),
		secure:  secure,
		name:    sessionCookie,
		db:      db,
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

// migrateSessions creates sessionTable when it does not exist. The columns are plain
// TEXT and BIGINT (Unix seconds) so that one statement serves SQLite and PostgreSQL.
func migrateSessions(ctx context.Context, db *gorm.DB) error {
	err := db.WithContext(ctx).Exec(`CREATE TABLE IF NOT EXISTS ` + sessionTable + ` (
		id_hash TEXT PRIMARY KEY,
		subject TEXT NOT NULL,
		expires_unix BIGINT NOT NULL
	)`).Error
	if err != nil && db.Migrator().HasTable(sessionTable) {
		return nil // another replica created it at the same moment
	}
	if err != nil {
		return fmt.Errorf("demo sessions table: %w", err)
	}
	return nil
}

// sessionRow is a row of sessionTable.
type sessionRow struct {
	IDHash      string `gorm:"column:id_hash;primaryKey"`
	Subject     string `gorm:"column:subject"`
	ExpiresUnix int64  `gorm:"column:expires_unix"`
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// get returns the request's valid session, if any: a cookie with a valid MAC, not
// expired, and for a logged-in user a session that was not logged out. The error is a
// database failure.
func (s *sessions) get(r *http.Request) (session, bool, error) {
	sess, ok := s.parse(r)
	if !ok || sess.Subject == "" {
		return sess, ok, nil
	}
	var n int64
	err := s.db.WithContext(r.Context()).Table(sessionTable).
		Where("id_hash = ? AND subject = ? AND expires_unix > ?", sessionKey(sess.ID), sess.Subject, s.now().Unix()).
		Count(&n).Error
	if err != nil {
		return session{}, false, fmt.Errorf("reading the session: %w", err)
	}
	if n == 0 {
		return session{}, false, nil // logged out
	}
	return sess, true, nil
}

// parse reads and verifies the session cookie (MAC and expiry).
func (s *sessions) parse(r *http.Request) (session, bool) {
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
	sess, ok, err := s.get(r)
	if err != nil || ok {
		return sess, err
	}
	return s.start(r.Context(), w, "")
}

// start begins a new session for subject ("" for an anonymous visitor) with a fresh ID,
// so that logging in never keeps an ID someone else may know (session fixation). A
// logged-in session gets its row (and expired rows are removed on the way).
func (s *sessions) start(ctx context.Context, w http.ResponseWriter, subject string) (session, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return session{}, err
	}
	sess := session{
		ID:      base64.RawURLEncoding.EncodeToString(b[:]),
		Subject: subject,
		Expires: s.now().Add(sessionLifetime).Truncate(time.Second),
	}
	if subject != "" {
		db := s.db.WithContext(ctx)
		if err := db.Exec(`DELETE FROM `+sessionTable+` WHERE expires_unix <= ?`, s.now().Unix()).Error; err != nil {
			return session{}, fmt.Errorf("removing expired sessions: %w", err)
		}
		row := sessionRow{IDHash: sessionKey(sess.ID), Subject: subject, ExpiresUnix: sess.Expires.Unix()}
		if err := db.Table(sessionTable).Create(&row).Error; err != nil {
			return session{}, fmt.Errorf("storing the session: %w", err)
		}
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

// end logs sess out: its row is deleted, so its cookie is refused from now on wherever
// it is presented. Anonymous sessions have nothing to end.
func (s *sessions) end(ctx context.Context, sess session) error {
	if sess.Subject == "" || sess.ID == "" {
		return nil
	}
	err := s.db.WithContext(ctx).Exec(`DELETE FROM `+sessionTable+` WHERE id_hash = ?`, sessionKey(sess.ID)).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("ending the session: %w", err)
	}
	return nil
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
