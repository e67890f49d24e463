package resourceserver

import (
	"net/http"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/cors"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// The bearer middleware's side of the observation seam (package provider/observe).

// observed returns b's middleware around next, reporting a BearerChecked event for every
// request it decides (CORS preflights are no check): the outcome and how long the check
// took, up to the moment next is called. A step-up refusal by [RequireScopes] behind it is
// the insufficient_scope outcome, not ok: the client got a 403 and must ask for more scopes. The middleware itself is unchanged: it runs
// with a probe as its ResponseWriter, and next gets the original one.
func (b *Bearer) observed(next http.Handler) http.Handler {
	plain := *b
	plain.obs = nil
	inner := plain.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := w.(*bearerProbe)
		if !ok { // not reached through observed; cannot happen
			next.ServeHTTP(w, r)
			return
		}
		p.passed = time.Since(p.start)
		p.reached = true
		if g, ok := guardFromContext(r.Context()); ok {
			g.probe = p // a step-up refusal behind (RequireScopes) reports through it
		}
		next.ServeHTTP(p.ResponseWriter, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cors.IsPreflight(r) {
			inner.ServeHTTP(w, r)
			return
		}
		p := &bearerProbe{ResponseWriter: w, start: time.Now()}
		inner.ServeHTTP(p, r)
		e := observe.Event{Kind: observe.BearerChecked, Endpoint: observe.EndpointMCP, Outcome: p.outcome(), Duration: p.passed}
		if !p.reached {
			e.Duration = time.Since(p.start)
		}
		b.obs.Observe(r.Context(), e)
		if e.Outcome == observe.BearerUnavailable {
			b.obs.Observe(r.Context(), observe.Event{Kind: observe.StorageError, Endpoint: observe.EndpointMCP, Reason: "bearer check"})
		}
	})
}

// bearerProbe is the ResponseWriter the middleware writes its refusals to when
// observed: it remembers the status and the challenge.
type bearerProbe struct {
	http.ResponseWriter
	start     time.Time
	passed    time.Duration // the check's duration, when next was reached
	reached   bool
	stepUp    bool // RequireScopes behind the middleware refused with insufficient_scope
	status    int
	challenge string
}

func (p *bearerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
		p.challenge = p.Header().Get("WWW-Authenticate")
	}
	p.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (p *bearerProbe) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// outcome classifies the middleware's decision.
func (p *bearerProbe) outcome() string {
	switch {
	case p.stepUp:
		return observe.BearerInsufficientScope
	case p.reached:
		return observe.BearerOK
	case p.status == http.StatusForbidden:
		return observe.BearerInsufficientScope
	case p.status == http.StatusServiceUnavailable:
		return observe.BearerUnavailable
	case p.status >= 500:
		return observe.BearerError
	case strings.Contains(p.challenge, expiredDescription):
		return observe.BearerExpired
	}
	return observe.BearerInvalid
}

// expiredDescription is the error_description of the middleware's challenge to an
// expired token (checkToken); the observed middleware tells expired from invalid by it.
const expiredDescription = "the access token has expired"
