// Package jsondoc serves read-only JSON documents, such as RFC 9728 protected resource
// metadata and JSON Web Key Sets: the one definition of what such an endpoint answers.
package jsondoc

import (
	"net/http"
	"strconv"

	"github.com/fosite-mcp/fosite-mcp/provider/cors"
)

// corsPolicy lets any origin read the documents: they are public and carry no cookies.
var corsPolicy = cors.Policy{Methods: "GET, HEAD, OPTIONS"}

// Handler serves the document body returns for each request. GET and HEAD get it with
// Content-Type application/json, cacheControl, X-Content-Type-Options nosniff,
// Content-Length and CORS for any origin; OPTIONS answers a CORS preflight; other methods
// get 405 with Allow. A nil body is 404. body must not modify the slice it returns later.
func Handler(cacheControl string, body func(*http.Request) []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if corsPolicy.Handle(w, r) {
			return
		}
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD, OPTIONS")
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
