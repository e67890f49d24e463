package provider

import (
	"time"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"
)

// Session is the fosite session this provider stores with every code and token. It is
// serialisable as JSON (storage persists it that way), carries the subject and the
// expiry times, and implements oauth2.JWTSessionContainer so that a JWT access-token
// strategy (RFC 9068) can use it.
type Session struct {
	// Subject identifies the resource owner; empty for client credentials.
	Subject string `json:"sub,omitempty"`
	// ExpiresAt holds the expiry per token type (fosite.AccessToken, …).
	ExpiresAt map[fosite.TokenType]time.Time `json:"exp,omitempty"`
	// Extra holds additional claims for introspection and JWT access tokens.
	Extra map[string]interface{} `json:"ext,omitempty"`
	// JWTClaims is scratch space for a JWT access-token strategy. It is not stored, so
	// every issued JWT starts from fresh claims (a refreshed token does not inherit the
	// previous token's iat or jti).
	JWTClaims *jwt.JWTClaims `json:"-"`
	// JWTHeader is scratch space for a JWT access-token strategy; not stored.
	JWTHeader *jwt.Headers `json:"-"`
}

var (
	_ fosite.Session             = (*Session)(nil)
	_ oauth2.JWTSessionContainer = (*Session)(nil)
	_ fosite.ExtraClaimsSession  = (*Session)(nil)
)

// NewSession returns a session for subject.
func NewSession(subject string) *Session {
	return &Session{Subject: subject}
}

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = make(map[fosite.TokenType]time.Time)
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time {
	if s == nil || s.ExpiresAt == nil {
		return time.Time{}
	}
	return s.ExpiresAt[key]
}

// GetUsername implements fosite.Session; usernames are not kept.
func (s *Session) GetUsername() string { return "" }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string {
	if s == nil {
		return ""
	}
	return s.Subject
}

// SetSubject sets the subject.
func (s *Session) SetSubject(subject string) { s.Subject = subject }

// Clone implements fosite.Session: a deep copy. fosite clones the session on every token
// request (the refresh handler, Sanitize), so the usual case, expiry times and JSON-like
// extra claims without JWT scratch space, is copied by hand; anything else falls back to
// reflection (deepcopy), which copies whatever the values are.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	if s.JWTClaims != nil || s.JWTHeader != nil {
		return deepcopy.Copy(s).(*Session)
	}
	cp := &Session{Subject: s.Subject}
	if s.ExpiresAt != nil {
		cp.ExpiresAt = make(map[fosite.TokenType]time.Time, len(s.ExpiresAt))
		for k, v := range s.ExpiresAt {
			cp.ExpiresAt[k] = v
		}
	}
	if s.Extra != nil {
		cp.Extra = copyJSONValue(s.Extra).(map[string]interface{})
	}
	return cp
}

// copyJSONValue returns a deep copy of v: maps and slices of what encoding/json decodes
// are copied element by element, immutable scalars returned as they are, and any other
// value copied by reflection (deepcopy).
func copyJSONValue(v interface{}) interface{} {
	switch x := v.(type) {
	case nil, string, bool, float64, float32, int, int64, int32, uint, uint64, uint32:
		return x
	case map[string]interface{}:
		if x == nil {
			return x
		}
		m := make(map[string]interface{}, len(x))
		for k, e := range x {
			m[k] = copyJSONValue(e)
		}
		return m
	case []interface{}:
		if x == nil {
			return x
		}
		l := make([]interface{}, len(x))
		for i, e := range x {
			l[i] = copyJSONValue(e)
		}
		return l
	case []string:
		if x == nil {
			return x
		}
		return append(make([]string, 0, len(x)), x...)
	default:
		return deepcopy.Copy(v)
	}
}

// GetExtraClaims implements fosite.ExtraClaimsSession.
func (s *Session) GetExtraClaims() map[string]interface{} {
	if s == nil {
		return nil
	}
	return s.Extra
}

// GetJWTClaims implements oauth2.JWTSessionContainer. The subject is copied into the
// claims when they do not name one.
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer {
	if s.JWTClaims == nil {
		s.JWTClaims = &jwt.JWTClaims{}
	}
	if s.JWTClaims.Subject == "" {
		s.JWTClaims.Subject = s.Subject
	}
	if s.JWTClaims.Extra == nil && len(s.Extra) > 0 {
		s.JWTClaims.Extra = make(map[string]interface{}, len(s.Extra))
		for k, v := range s.Extra {
			s.JWTClaims.Extra[k] = v
		}
	}
	return s.JWTClaims
}

// GetJWTHeader implements oauth2.JWTSessionContainer.
func (s *Session) GetJWTHeader() *jwt.Headers {
	if s.JWTHeader == nil {
		s.JWTHeader = &jwt.Headers{}
	}
	return s.JWTHeader
}
