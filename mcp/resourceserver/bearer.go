package resourceserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/cors"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// BearerOptions configures [NewBearer] and [MustRequireBearer].
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

// Bearer is RFC 6750 bearer-token middleware for one protected resource, with MCP's
// challenges: it takes the token from the Authorization header only, verifies it, checks
// that its audience names this resource, its expiry and its scopes (403
// insufficient_scope naming every scope needed, for step-up), answers CORS preflights
// itself, and passes the verified token to the handler ([TokenFromContext]). A storage
// failure of the verifier is a 503 that clients retry, never a 401 that logs them out.
// docs/design-resourceserver.md walks through every check. Create it with [NewBearer];
// it is safe for concurrent use.
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
		return nil, errors.New("resourceserver: bearer: verifier is nil")
	}
	canon, err := oauth.CanonicalResource(opts.Resource)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: bearer: resource %q: %w", opts.Resource, err)
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
		if !oauth.ValidScopeToken(s) {
			return nil, fmt.Errorf("resourceserver: bearer: %q is not a valid scope token", s)
		}
	}
	if b.metadataURL == "" {
		if b.metadataURL, err = MetadataURL(opts.Resource); err != nil {
			return nil, fmt.Errorf("resourceserver: bearer: %w", err)
		}
	} else if !isHTTPURL(b.metadataURL) {
		return nil, fmt.Errorf("resourceserver: bearer: resource metadata URL %q must be an absolute http(s) URL", b.metadataURL)
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
		case errors.Is(err, oauth.ErrInvalidToken):
			b.reject(w, r, &rejection{oauth.ErrorCodeInvalidToken, "the access token is invalid, expired or revoked"}, b.scopes, "")
			return
		case errors.Is(err, oauth.ErrStorageUnavailable):
			// The token may well be valid: a 401 would send the client through a new login.
			b.log.WarnContext(r.Context(), "resourceserver: access token not verified: storage unavailable", "resource", b.resource, "err", err)
			w.Header().Set("Retry-After", oauth.RetryAfterStorage)
			writeJSONError(w, http.StatusServiceUnavailable, oauth.ErrorCodeTemporarilyUnavailable, "the access token cannot be verified at the moment; retry later")
			return
		case err != nil || tok == nil:
			b.log.ErrorContext(r.Context(), "resourceserver: access token verification failed", "resource", b.resource, "err", err)
			writeJSONError(w, http.StatusInternalServerError, oauth.ErrorCodeServerError, "the access token could not be verified")
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
			b.reject(w, r, &rejection{oauth.ErrorCodeInsufficientScope,
				"the access token lacks a scope this operation needs: " + strings.Join(missing, " ")}, required, tok.ClientID)
			return
		}
		next.ServeHTTP(w, r.WithContext(&bearerContext{Context: r.Context(), tok: tok, guard: guard{b: b, required: required}}))
	})
}

// checkToken applies the audience and expiry rules to a verified token.
func (b *Bearer) checkToken(tok *oauth.AccessToken) *rejection {
	// b.resource is canonical: an audience equal to it matches without parsing either
	// (the common case, and two URL parses per request otherwise).
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return a == b.resource || SameResource(a, b.resource) }) {
		return &rejection{oauth.ErrorCodeInvalidToken, "the access token is not valid for this resource"}
	}
	if tok.ExpiresAt.IsZero() || !time.Now().Before(tok.ExpiresAt.Add(b.clockSkew)) {
		return &rejection{oauth.ErrorCodeInvalidToken, expiredDescription}
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
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return "", &rejection{oauth.ErrorCodeInvalidRequest, "access tokens are accepted only in the Authorization header"}
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", &rejection{"", "an access token is required"}
	case 1:
	default:
		return "", &rejection{oauth.ErrorCodeInvalidRequest, "more than one Authorization header"}
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", &rejection{"", "an access token is required in a Bearer Authorization header"}
	}
	token = strings.TrimLeft(token, " ")
	if !isToken68(token) {
		return "", &rejection{oauth.ErrorCodeInvalidToken, "the access token is malformed"}
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
	if len(scope) == 0 && fail.code != oauth.ErrorCodeInsufficientScope {
		scope = b.challengeScopes
	}
	ch := Challenge{Error: fail.code, ResourceMetadata: b.metadataURL, Scope: scope}
	if fail.code != "" {
		ch.ErrorDescription = oauth.ErrorDescription(fail.description) // RFC 6750 §3's character set
	}
	status := http.StatusUnauthorized
	if fail.code == oauth.ErrorCodeInsufficientScope {
		status = http.StatusForbidden
	}
	b.log.DebugContext(r.Context(), "resourceserver: bearer token rejected",
		"resource", b.resource, "status", status, "error", fail.code, "reason", fail.description, "client_id", clientID)
	w.Header().Set("WWW-Authenticate", ch.String())
	w.Header().Add("Access-Control-Expose-Headers", "WWW-Authenticate")
	if r.Header.Get("Origin") != "" && w.Header().Get("Access-Control-Allow-Origin") == "" {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Add("Vary", "Origin")
	}
	code := fail.code
	if code == "" {
		code = oauth.ErrorCodeUnauthorized
	}
	writeJSONError(w, status, code, fail.description)
}
