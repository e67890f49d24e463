// Package cors lets browsers call the server's endpoints from any origin. It suits
// endpoints that authenticate with bearer tokens or client credentials, never with
// cookies — every OAuth and MCP endpoint of this module — so allowing every origin grants
// a web page nothing it could not do from a server.
package cors

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy describes what a preflight is granted. The zero value is usable: no methods
// listed beyond the request's own, DefaultAllowHeaders, a one-day max-age.
type Policy struct {
	// Methods is the Access-Control-Allow-Methods (and Allow) value of preflight
	// answers, e.g. "POST, OPTIONS".
	Methods string
	// AllowHeaders are granted when the preflight names no request headers that can be
	// echoed. Default DefaultAllowHeaders.
	AllowHeaders string
	// ExposeHeaders is the Access-Control-Expose-Headers value of every response
	// (e.g. "WWW-Authenticate" so that clients read challenges); empty exposes none.
	ExposeHeaders string
	// MaxAge is how long browsers may cache a preflight answer. Default 24 hours.
	MaxAge time.Duration
}

// DefaultAllowHeaders are the request headers MCP clients send.
const DefaultAllowHeaders = "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID"

// maxEchoedHeaders bounds the Access-Control-Request-Headers value echoed back.
const maxEchoedHeaders = 1024

// SetHeaders sets the headers every cross-origin response needs: any origin, Vary: Origin
// and the exposed headers.
func (p Policy) SetHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Add("Vary", "Origin")
	if p.ExposeHeaders != "" {
		h.Set("Access-Control-Expose-Headers", p.ExposeHeaders)
	}
}

// Preflight answers r as a preflight: 204 with the allowed methods and headers. The
// request headers the browser asks for are echoed when they form a short, valid list of
// header names; otherwise AllowHeaders are granted.
func (p Policy) Preflight(w http.ResponseWriter, r *http.Request) {
	p.SetHeaders(w)
	h := w.Header()
	if p.Methods != "" {
		h.Set("Access-Control-Allow-Methods", p.Methods)
		h.Set("Allow", p.Methods)
	}
	allowed := p.AllowHeaders
	if allowed == "" {
		allowed = DefaultAllowHeaders
	}
	if req := strings.Join(r.Header.Values("Access-Control-Request-Headers"), ","); req != "" && len(req) <= maxEchoedHeaders && IsTokenList(req) {
		allowed = req
	}
	h.Set("Access-Control-Allow-Headers", allowed)
	maxAge := p.MaxAge
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	h.Set("Access-Control-Max-Age", strconv.Itoa(int(maxAge/time.Second)))
	w.WriteHeader(http.StatusNoContent)
}

// Handle sets the CORS headers and answers OPTIONS requests as preflights; it reports
// whether r was answered. Endpoints without anything to protect on OPTIONS use it;
// protected ones answer only IsPreflight requests and authenticate the rest.
func (p Policy) Handle(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodOptions {
		p.Preflight(w, r)
		return true
	}
	p.SetHeaders(w)
	return false
}

// IsPreflight reports whether r is a CORS preflight: OPTIONS with Origin and
// Access-Control-Request-Method.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// IsTokenList reports whether s is a comma-separated list of HTTP tokens (RFC 9110
// §5.6.2), such as header names.
func IsTokenList(s string) bool {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
				return false
			}
		}
	}
	return true
}
