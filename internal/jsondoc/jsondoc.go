// Package jsondoc serves read-only JSON documents, such as RFC 9728 protected resource
// metadata and JSON Web Key Sets: the one definition of what such an endpoint answers.
package jsondoc

import (
	"net/http"
	"strconv"

	"github.com/fosite-mcp/fosite-mcp/provider/cors"
)

// corsPolicy lets any origin read the documents: they are public and carry no cookies.
var corsPolicy = cors.Policy{Methods: Allow}

// Allow is the methods a document handler answers, as its Allow header says.
const Allow = "GET, HEAD, OPTIONS"

// Options are a Handler's optional parts; a nil *Options is all the defaults.
type Options struct {
	// MethodNotAllowed, when set, writes the 405 answer to a method other than GET, HEAD
	// and OPTIONS (the Allow header is set already), for documents whose endpoints answer
	// errors in a format of their own: the RFC 8414 metadata answers an OAuth JSON error.
	// Nil, the default, writes a text/plain "method not allowed".
	MethodNotAllowed func(w http.ResponseWriter, r *http.Request)
}

// Handler serves the document body returns for each request. GET and HEAD get it with
// Content-Type application/json, cacheControl, X-Content-Type-Options nosniff,
// Content-Length and CORS for any origin; OPTIONS answers a CORS preflight; other methods
// get 405 with Allow (see Options.MethodNotAllowed). A nil body is 404. body must not
// modify the slice it returns later.
func Handler(cacheControl string, body func(*http.Request) []byte, opts *Options) http.Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if corsPolicy.Handle(w, r) {
			return
		}
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", Allow)
			if o.MethodNotAllowed != nil {
				o.MethodNotAllowed(w, r)
				return
			}
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b := body(r)
		if b == nil {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", cacheControl)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		_, _ = w.Write(b)
	})
}
