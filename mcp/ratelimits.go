package mcp

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/ratelimit"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// RateLimits configures the per-client limits New puts on the authorization server's
// endpoints (Config.RateLimits): a token bucket per client IP address and endpoint (see
// package ratelimit). A client over its limit gets HTTP 429 with Retry-After: a JSON
// error body at the token, revocation, introspection and registration endpoints
// ({"error":"temporarily_unavailable","error_description":"…"}; RFC 6749 has no code for
// throttling there, clients act on the status), and a plain text page at the
// authorization endpoint and the login page, never a redirect.
//
// The metadata documents, the JWKS and the MCP endpoints (Protect, Bearer) are never
// limited: they are cheap, public, and called by every client. Limit the MCP endpoint
// yourself with package ratelimit if you need to.
//
// Each zero Limit means its default; ratelimit.Unlimited() turns one endpoint's limit off.
// The defaults suit a public server: a person or an MCP client stays far below them
// (one authorization takes an authorization request, a login, a token request, and a
// refresh an hour), while they cap password guessing on the login page, registration
// floods and code or secret guessing at the token endpoint per address.
type RateLimits struct {
	// Disabled turns every limit off, e.g. when a proxy in front already limits, or for
	// load tests from one address. Default false: the limits are on. New refuses other
	// settings with it (they would be ignored).
	Disabled bool

	// Authorize limits the authorization endpoint (which also fetches client ID
	// metadata documents). Default DefaultRateLimits().Authorize.
	Authorize ratelimit.Limit
	// Login limits the built-in login page (provider.Config.Authenticator), where
	// passwords are tried, and pages wrapped with Server.LimitLogin. Default
	// DefaultRateLimits().Login.
	Login ratelimit.Limit
	// Token limits the token endpoint. Default DefaultRateLimits().Token.
	Token ratelimit.Limit
	// Revocation limits the RFC 7009 revocation endpoint. Default
	// DefaultRateLimits().Revocation.
	Revocation ratelimit.Limit
	// Introspection limits the RFC 7662 introspection endpoint. Its callers are resource
	// servers the operator created, which may introspect every request they serve:
	// raise it for a busy one. Default DefaultRateLimits().Introspection.
	Introspection ratelimit.Limit
	// Registration limits the RFC 7591 registration endpoint and the RFC 7592
	// management of registered clients. Default DefaultRateLimits().Registration.
	Registration ratelimit.Limit
	// UserCode limits the entries (POSTs) of device flow user codes (RFC 8628 §5.1) on
	// the built-in verification page and on pages wrapped with Server.LimitUserCode,
	// charged before the code is looked up. The device authorization endpoint has the
	// Token limit. Default DefaultRateLimits().UserCode.
	UserCode ratelimit.Limit

	// ClientIP says how a client's address is found: by default the connection's.
	// Behind a reverse proxy, every client shares the proxy's address, and so its
	// buckets, until the proxy is listed in ClientIP.TrustedProxies; trust a forwarded
	// header only from proxies that set it, or clients choose their own address (see
	// ratelimit.ClientIP).
	ClientIP ratelimit.ClientIP
	// MaxKeys bounds how many client addresses each endpoint tracks. Default
	// ratelimit.DefaultMaxKeys.
	MaxKeys int
	// Now is the clock. Default time.Now; tests set it.
	Now func() time.Time
}

// DefaultRateLimits returns the limits a nil Config.RateLimits means, per client IP
// address (IPv6: per /64), for changing one of them:
//
//   - Authorize: 60 authorization requests a minute, 20 at once.
//   - Login: 30 login page requests (showing and posting) a minute, 10 at once, so
//     about 15 password guesses a minute.
//   - Token: 60 token requests a minute, 20 at once.
//   - Revocation: 120 a minute, 40 at once.
//   - Introspection: 600 a minute, 100 at once.
//   - Registration: 10 registrations a minute, 5 at once.
//   - UserCode: 5 user code entries a minute, 5 at once. A user code is 8 characters
//     of a 20-letter alphabet, 20^8 ≈ 2.56·10^10 codes, valid 10 minutes: one address
//     gets at most 5 + 5·10 = 55 tries within a code's lifetime, so with 1 000 codes
//     pending at once it guesses one of them with probability 55·1000/2.56·10^10 ≈
//     2·10^-6 (RFC 8628 §5.1); an attacker with k addresses multiplies that by k. A
//     person needs two or three entries (the code, then the login and decision).
func DefaultRateLimits() RateLimits {
	return RateLimits{
		Authorize:     ratelimit.PerMinute(60, 20),
		Login:         ratelimit.PerMinute(30, 10),
		Token:         ratelimit.PerMinute(60, 20),
		Revocation:    ratelimit.PerMinute(120, 40),
		Introspection: ratelimit.PerMinute(600, 100),
		Registration:  ratelimit.PerMinute(10, 5),
		UserCode:      ratelimit.PerMinute(5, 5),
	}
}

// limiters are the endpoints' limiters; nil when RateLimits.Disabled.
type limiters struct {
	authorize, login, token, revocation, introspection, registration, userCode *ratelimit.Limiter
}

// newLimiters builds the limiters of cfg (nil: the defaults).
func (s *Server) newLimiters(cfg *RateLimits) (*limiters, error) {
	var c RateLimits
	if cfg != nil {
		c = *cfg
	}
	if err := refuseIgnored("RateLimits", "Disabled", !c.Disabled, cfg); err != nil || c.Disabled {
		return nil, err
	}
	def := DefaultRateLimits()
	var l limiters
	for _, e := range []struct {
		name     string
		endpoint string // observe.Endpoint…
		limit    ratelimit.Limit
		def      ratelimit.Limit
		json     bool
		dst      **ratelimit.Limiter
	}{
		{"authorize", observe.EndpointAuthorize, c.Authorize, def.Authorize, false, &l.authorize},
		{"login", observe.EndpointLogin, c.Login, def.Login, false, &l.login},
		{"token", observe.EndpointToken, c.Token, def.Token, true, &l.token},
		{"revocation", observe.EndpointRevocation, c.Revocation, def.Revocation, true, &l.revocation},
		{"introspection", observe.EndpointIntrospection, c.Introspection, def.Introspection, true, &l.introspection},
		{"registration", observe.EndpointRegistration, c.Registration, def.Registration, true, &l.registration},
		{"userCode", observe.EndpointUserCode, c.UserCode, def.UserCode, false, &l.userCode},
	} {
		limit := e.limit
		if limit == (ratelimit.Limit{}) {
			limit = e.def
		}
		reject := ratelimit.PlainError
		if e.json {
			reject = ratelimit.JSONError
		}
		lim, err := ratelimit.New(limit, ratelimit.Options{
			Name: e.name, MaxKeys: c.MaxKeys, ClientIP: c.ClientIP, Reject: reject, Logger: s.logger, Now: c.Now,
			Observer: s.obs, Endpoint: e.endpoint,
		})
		if err != nil {
			return nil, fmt.Errorf("mcp: RateLimits.%s%s: %w", strings.ToUpper(e.name[:1]), e.name[1:], err)
		}
		*e.dst = lim
	}
	return &l, nil
}

// limit wraps h with lim, unless limits are off.
func (s *Server) limit(lim func(*limiters) *ratelimit.Limiter, h http.Handler) http.Handler {
	if s.limits == nil {
		return h
	}
	return lim(s.limits).Wrap(h)
}

func authorizeLimiter(l *limiters) *ratelimit.Limiter     { return l.authorize }
func loginLimiter(l *limiters) *ratelimit.Limiter         { return l.login }
func tokenLimiter(l *limiters) *ratelimit.Limiter         { return l.token }
func revocationLimiter(l *limiters) *ratelimit.Limiter    { return l.revocation }
func introspectionLimiter(l *limiters) *ratelimit.Limiter { return l.introspection }
func registrationLimiter(l *limiters) *ratelimit.Limiter  { return l.registration }
func userCodeLimiter(l *limiters) *ratelimit.Limiter      { return l.userCode }

// LimitLogin wraps your own login page (provider.Config.LoginURL), where passwords are
// tried, with the login limit (RateLimits.Login); the built-in page is limited already.
// With limits disabled it returns h.
func (s *Server) LimitLogin(h http.Handler) http.Handler { return s.limit(loginLimiter, h) }

// LimitUserCode wraps your own device verification page (provider.DeviceRequest,
// ApproveDevice, DenyDeviceBy) with the user code limit (RateLimits.UserCode): every POST
// counts, before the handler looks a code up. The built-in page is limited already; wrap
// it with LimitLogin too when it checks passwords. With limits disabled it returns h.
func (s *Server) LimitUserCode(h http.Handler) http.Handler {
	if s.limits == nil {
		return h
	}
	limited := s.limit(userCodeLimiter, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			limited.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// registerProvider mounts the provider's endpoints, each behind its limit: what
// provider.Register does, plus the limiters.
func (s *Server) registerProvider(mux *http.ServeMux) {
	if s.limits == nil {
		s.provider.Register(mux)
		return
	}
	base := strings.TrimSuffix(endpointPath(s.provider.Issuer()), "/")
	p := s.provider
	mux.Handle(base+provider.AuthorizePath, s.route(observe.EndpointAuthorize, s.limit(authorizeLimiter, http.HandlerFunc(p.Authorize))))
	mux.Handle(base+provider.TokenPath, s.route(observe.EndpointToken, s.limit(tokenLimiter, http.HandlerFunc(p.Token))))
	mux.Handle(base+provider.RevocationPath, s.route(observe.EndpointRevocation, s.limit(revocationLimiter, http.HandlerFunc(p.Revocation))))
	mux.Handle(base+provider.IntrospectionPath, s.route(observe.EndpointIntrospection, s.limit(introspectionLimiter, http.HandlerFunc(p.Introspection))))
	if s.builtinLogin {
		mux.Handle(base+provider.LoginPath, s.route(observe.EndpointLogin, s.limit(loginLimiter, http.HandlerFunc(p.Login))))
	}
	if p.DeviceVerificationURI() != "" {
		mux.Handle(base+provider.DeviceAuthorizationPath, s.route(observe.EndpointDeviceAuthorization, s.limit(tokenLimiter, http.HandlerFunc(p.DeviceAuthorization))))
		if s.builtinLogin {
			mux.Handle(base+provider.DevicePath, s.route(observe.EndpointDevice, s.limit(loginLimiter, s.LimitUserCode(http.HandlerFunc(p.Device)))))
		}
	}
	for _, path := range p.MetadataPaths() {
		mux.Handle(path, s.route(observe.EndpointMetadata, http.HandlerFunc(p.MetadataHandler)))
	}
}
