package registration

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/cors"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Handler serves the RFC 7591 registration endpoint (POST on Options.Endpoint) and the
// RFC 7592 client configuration endpoints (GET, PUT and DELETE on Endpoint/{client_id}).
// Create it with [NewHandler]; it is safe for concurrent use.
type Handler struct {
	store    provider.ClientStore
	cas      provider.ClientCompareAndSwapper // store's conditional writes (RFC 7592)
	opts     Options
	basePath string // escaped path of Options.Endpoint
}

// NewHandler validates opts and returns the handler over store (gormstore.Store
// implements provider.ClientStore). store must also implement
// provider.ClientCompareAndSwapper (gormstore.Store does): RFC 7592 updates and deletes
// take effect only while the presented registration access token is still the client's,
// so that concurrent requests with one token cannot both succeed. NewHandler refuses a
// store without it rather than losing that guarantee silently.
func NewHandler(store provider.ClientStore, opts Options) (*Handler, error) {
	if store == nil {
		return nil, errors.New("registration: store is nil")
	}
	cas, ok := store.(provider.ClientCompareAndSwapper)
	if !ok {
		return nil, fmt.Errorf("registration: the store (%T) does not implement provider.ClientCompareAndSwapper, which RFC 7592 client updates and deletes need so that one of concurrent requests wins", store)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(o.Endpoint) // validated by withDefaults
	base := u.EscapedPath()
	if base == "" {
		base = "/"
	}
	return &Handler{store: store, cas: cas, opts: o, basePath: base}, nil
}

// Advertised reports whether registration is open to anyone or to holders of an initial
// access token, that is whether the authorization server metadata should publish
// registration_endpoint.
func (h *Handler) Advertised() bool { return h.opts.Policy != PolicyClosed }

// Endpoint returns the registration endpoint URL.
func (h *Handler) Endpoint() string { return h.opts.Endpoint }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Browser-based MCP clients (the MCP Inspector) register cross-origin; nothing here
	// relies on cookies, so any origin may call.
	policy := cors.Policy{ExposeHeaders: "WWW-Authenticate"}
	policy.SetHeaders(w)
	if h.opts.Policy == PolicyClosed {
		http.NotFound(w, r)
		return
	}
	clientID, isClientPath, ok := h.route(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	allow := "POST, OPTIONS"
	if isClientPath {
		if h.opts.DisableManagement {
			http.NotFound(w, r)
			return
		}
		allow = "GET, PUT, DELETE, OPTIONS"
	}
	if r.Method == http.MethodOptions {
		policy.Methods = allow
		policy.Preflight(w, r)
		return
	}
	switch {
	case !isClientPath && r.Method == http.MethodPost:
		h.register(w, r)
	case isClientPath && r.Method == http.MethodGet:
		h.read(w, r, clientID)
	case isClientPath && r.Method == http.MethodPut:
		h.update(w, r, clientID)
	case isClientPath && r.Method == http.MethodDelete:
		h.delete(w, r, clientID)
	default:
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, &Error{ErrorCode: provider.ErrorCodeInvalidRequest,
			ErrorDescription: "method not allowed; use " + strings.TrimSuffix(allow, ", OPTIONS")})
	}
}

// route splits the request path into the registration endpoint or a client configuration
// endpoint with its client ID.
func (h *Handler) route(r *http.Request) (clientID string, isClientPath, ok bool) {
	p := r.URL.EscapedPath()
	if p == h.basePath {
		return "", false, true
	}
	prefix := strings.TrimSuffix(h.basePath, "/") + "/"
	rest, found := strings.CutPrefix(p, prefix)
	if !found || rest == "" || strings.Contains(rest, "/") {
		return "", false, false
	}
	id, err := url.PathUnescape(rest)
	if err != nil || id == "" {
		return "", false, false
	}
	return id, true, true
}

// clientURI returns the RFC 7592 client configuration endpoint of id.
func (h *Handler) clientURI(id string) string {
	return strings.TrimSuffix(h.opts.Endpoint, "/") + "/" + url.PathEscape(id)
}
