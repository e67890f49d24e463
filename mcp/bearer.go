package mcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/cors"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// BearerOptions configures [NewBearer] and [RequireBearer].
type BearerOptions struct {
	// Resource is the URL of the protected resource being guarded, as configured in its
	// [Resource]. A token is accepted only when its audience names this resource (see
	// [SameResource]). Required.
	Resource string
	// ResourceMetadataURL is the resource_metadata URL advertised in every challenge.
	// Default: [MetadataURL] of Resource. Set it when the metadata is served elsewhere.
	ResourceMetadataURL string
	// Scopes are required on every request through this middleware. Default none.
	Scopes []string
	// OperationScopes, when set, returns further scopes this particular request needs,
	// such as per-tool scopes of an MCP tools/call (see [ToolScopes]). It runs only for
	// requests with a valid token for this resource (so unauthenticated requests never
	// make the server read a body; their 401 names Scopes only), and must leave the
	// request readable (restore the body it reads). Default none.
	OperationScopes func(r *http.Request) []string
	// ChallengeScopes are advertised in the scope parameter of a 401 when the request
	// needs no particular scope, so that clients know what to ask for. Default none:
	// clients then fall back to scopes_supported from the metadata.
	ChallengeScopes []string
	// ClockSkew tolerates an authorization server clock ahead of ours when checking
	// expiry. Default 0.
	ClockSkew time.Duration
	// Logger receives one Debug line per rejected request (reason and client ID, never a
	// token) and Error lines for verifier failures. Default slog.Default().
	Logger *slog.Logger
	// Observer, when set, is told the outcome and duration of every check
	// (observe.BearerChecked). Default nil: none, at no cost.
	Observer observe.Observer
}

// Bearer is RFC 6750 bearer-token middleware for one protected resource. Create it with
// [NewBearer]; it is safe for concurrent use.
//
// For each request it:
//
//  1. takes the token from the Authorization header only. A token in the access_token
//     query parameter (RFC 6750 §2.3, forbidden by MCP) is refused with 401
//     error="invalid_request" and never verified: RFC 6750 §3.1 names invalid_request for
//     an unsupported way of passing the token, and 401 (rather than its suggested 400)
//     is the status MCP clients react to by re-authorizing. The same holds for a repeated
//     Authorization header. No header, or another scheme, is a 401 without error code
//     (RFC 6750 §3.1: no error information when no credentials were sent);
//  2. verifies it with the [AccessTokenVerifier] (access tokens only; unknown, malformed,
//     expired or revoked → 401 error="invalid_token"; when the verifier cannot tell because
//     its storage is unavailable (an error wrapping [provider.ErrStorageUnavailable]) → 503
//     with Retry-After and error "temporarily_unavailable", so that clients retry rather
//     than log in again; any other verifier failure → 500);
//  3. checks that its audience names this resource (else 401 error="invalid_token");
//  4. checks expiry (else 401 error="invalid_token");
//  5. checks scopes under the hierarchy rule of [ScopeSatisfies] (else 403
//     error="insufficient_scope" with scope= every scope the operation needs, for MCP
//     step-up authorization).
//
// Every challenge carries resource_metadata and, when known, scope; responses have a JSON
// body {"error","error_description"} and Access-Control-Expose-Headers: WWW-Authenticate.
// On success the handler finds the token with [TokenFromContext].
//
// Nothing reaches the handler without a verified token. CORS preflight requests (OPTIONS
// with both Origin and Access-Control-Request-Method), which browsers send without
// credentials, are answered by the middleware itself and never passed on: 204 with
// Access-Control-Allow-Origin "*", the Streamable HTTP methods (GET, POST, DELETE), the
// requested headers (else Authorization, Content-Type, Accept, Mcp-Session-Id,
// MCP-Protocol-Version, Last-Event-ID) and a ten-minute Access-Control-Max-Age. Any
// origin may send the actual request because the credential is the bearer token, never
// a cookie: an origin without a token gets the 401. A plain OPTIONS is an ordinary request
// and needs a token. To allow fewer origins, answer preflights in a CORS layer in front
// of the middleware. The middleware's own refusals to a request with an Origin carry
// Access-Control-Allow-Origin "*" (unless an outer layer set one) so that browser clients
// can read the challenge; CORS headers of successful responses are the handler's (or an
// outer layer's) business.
type Bearer struct {
	v               AccessTokenVerifier
	resource        string
	metadataURL     string
	scopes          []string
	operationScopes func(*http.Request) []string
	challengeScopes []string
	clockSkew       time.Duration
	log             *slog.Logger
	obs             observe.Observer // nil: not observed (observe.go)
}

// NewBearer validates opts and returns the middleware.
func NewBearer(v AccessTokenVerifier, opts BearerOptions) (*Bearer, error) {
	if v == nil {
		return nil, errors.New("mcp: bearer: verifier is nil")
	}
	canon, err := provider.CanonicalResource(opts.Resource)
	if err != nil {
		return nil, fmt.Errorf("mcp: bearer: resource %q: %w", opts.Resource, err)
	}
	b := &Bearer{
		v:               v,
		resource:        canon,
		metadataURL:     opts.ResourceMetadataURL,
		scopes:          unionScopes(opts.Scopes),
		operationScopes: opts.OperationScopes,
		challengeScopes: unionScopes(opts.ChallengeScopes),
		clockSkew:       opts.ClockSkew,
		log:             opts.Logger,
		obs:             opts.Observer,
	}
	for _, s := range slices.Concat(opts.Scopes, opts.ChallengeScopes) {
		if !provider.ValidScopeToken(s) {
			return nil, fmt.Errorf("mcp: bearer: %q is not a valid scope token", s)
		}
	}
	if b.metadataURL == "" {
		if b.metadataURL, err = MetadataURL(opts.Resource); err != nil {
			return nil, fmt.Errorf("mcp: bearer: %w", err)
		}
	} else if !isHTTPURL(b.metadataURL) {
		return nil, fmt.Errorf("mcp: bearer: resource metadata URL %q must be an absolute http(s) URL", b.metadataURL)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	return b, nil
}

// MustRequireBearer returns [NewBearer]'s middleware as a func(http.Handler) http.Handler.
// It panics when opts are invalid, a programming error found at start-up; use NewBearer
// (or the adapters' RequireBearer) to handle the error instead.
func MustRequireBearer(v AccessTokenVerifier, opts BearerOptions) func(http.Handler) http.Handler {
	b, err := NewBearer(v, opts)
	if err != nil {
		panic(err)
	}
	return b.Wrap
}

// Wrap returns next guarded by b.
func (b *Bearer) Wrap(next http.Handler) http.Handler {
	if b.obs != nil {
		return b.observed(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cors.IsPreflight(r) {
			// Browsers send CORS preflights without credentials. Answer them here: the
			// handler behind must never act on a request without a verified token.
			preflightPolicy.Preflight(w, r)
			return
		}
		raw, fail := bearerToken(r)
		if fail != nil {
			b.reject(w, r, fail, b.scopes, "")
			return
		}
		tok, err := b.v.VerifyAccessToken(r.Context(), raw)
		switch {
		case errors.Is(err, provider.ErrInvalidToken):
			b.reject(w, r, &rejection{provider.ErrorCodeInvalidToken, "the access token is invalid, expired or revoked"}, b.scopes, "")
			return
		case errors.Is(err, provider.ErrStorageUnavailable):
			// The token may well be valid: a 401 would send the client through a new login.
			b.log.WarnContext(r.Context(), "mcp: access token not verified: storage unavailable", "resource", b.resource, "err", err)
			w.Header().Set("Retry-After", provider.RetryAfterStorage)
			writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the access token cannot be verified at the moment; retry later")
			return
		case err != nil || tok == nil:
			b.log.ErrorContext(r.Context(), "mcp: access token verification failed", "resource", b.resource, "err", err)
			writeJSONError(w, http.StatusInternalServerError, "server_error", "the access token could not be verified")
			return
		}
		if fail := b.checkToken(tok); fail != nil {
			b.reject(w, r, fail, b.scopes, tok.ClientID)
			return
		}
		// Operation scopes are computed for authenticated requests only, so that nobody
		// without a valid token makes the server read and parse a request body.
		required := b.scopes
		if b.operationScopes != nil {
			required = unionScopes(b.scopes, b.operationScopes(r))
		}
		if missing := MissingScopes(tok.Scopes, required); len(missing) > 0 {
			b.reject(w, r, &rejection{provider.ErrorCodeInsufficientScope,
				"the access token lacks a scope this operation needs: " + strings.Join(missing, " ")}, required, tok.ClientID)
			return
		}
		ctx := ContextWithToken(r.Context(), tok)
		ctx = contextWithGuard(ctx, &guard{b: b, required: required})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// checkToken applies the audience and expiry rules to a verified token.
func (b *Bearer) checkToken(tok *provider.AccessToken) *rejection {
	// b.resource is canonical: an audience equal to it matches without parsing either
	// (the common case, and two URL parses per request otherwise).
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return a == b.resource || SameResource(a, b.resource) }) {
		return &rejection{provider.ErrorCodeInvalidToken, "the access token is not valid for this resource"}
	}
	if tok.ExpiresAt.IsZero() || !time.Now().Before(tok.ExpiresAt.Add(b.clockSkew)) {
		return &rejection{provider.ErrorCodeInvalidToken, expiredDescription}
	}
	return nil
}

// preflightPolicy is what the middleware grants CORS preflights (see [Bearer]): the
// Streamable HTTP methods and what MCP clients send.
var preflightPolicy = cors.Policy{Methods: "GET, POST, DELETE, OPTIONS", MaxAge: 10 * time.Minute}

// rejection is why a request is refused: an RFC 6750 error code ("" when the request had
// no credentials) and a description that never contains the token.
type rejection struct {
	code        string
	description string
}

// bearerToken extracts the token from the Authorization header (RFC 6750 §2.1).
func bearerToken(r *http.Request) (string, *rejection) {
	if r.URL.Query().Has("access_token") {
		return "", &rejection{provider.ErrorCodeInvalidRequest, "access tokens are accepted only in the Authorization header"}
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", &rejection{"", "an access token is required"}
	case 1:
	default:
		return "", &rejection{provider.ErrorCodeInvalidRequest, "more than one Authorization header"}
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", &rejection{"", "an access token is required in a Bearer Authorization header"}
	}
	token = strings.TrimLeft(token, " ")
	if !isToken68(token) {
		return "", &rejection{provider.ErrorCodeInvalidToken, "the access token is malformed"}
	}
	return token, nil
}

// isToken68 reports whether s matches RFC 6750 §2.1 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}

// reject answers with the challenge for fail: 403 for insufficient_scope, 401 otherwise.
func (b *Bearer) reject(w http.ResponseWriter, r *http.Request, fail *rejection, required []string, clientID string) {
	scope := required
	if len(scope) == 0 && fail.code != provider.ErrorCodeInsufficientScope {
		scope = b.challengeScopes
	}
	ch := Challenge{Error: fail.code, ResourceMetadata: b.metadataURL, Scope: scope}
	if fail.code != "" {
		ch.ErrorDescription = fail.description
	}
	status := http.StatusUnauthorized
	if fail.code == provider.ErrorCodeInsufficientScope {
		status = http.StatusForbidden
	}
	b.log.DebugContext(r.Context(), "mcp: bearer token rejected",
		"resource", b.resource, "status", status, "error", fail.code, "reason", fail.description, "client_id", clientID)
	w.Header().Set("WWW-Authenticate", ch.String())
	w.Header().Add("Access-Control-Expose-Headers", "WWW-Authenticate")
	if r.Header.Get("Origin") != "" && w.Header().Get("Access-Control-Allow-Origin") == "" {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Add("Vary", "Origin")
	}
	code := fail.code
	if code == "" {
		code = "unauthorized" // RFC 6750 §3.1 wants no error code here; the body still needs one
	}
	writeJSONError(w, status, code, fail.description)
}
