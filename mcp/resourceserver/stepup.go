package resourceserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// RequireScopes returns middleware for a handler behind [Bearer] that needs further
// scopes: a route, or an operation the outer middleware cannot see. A token lacking any
// of them (under the hierarchy of [ScopeSatisfies]) gets 403 error="insufficient_scope"
// whose scope names everything the operation needs (the outer middleware's scopes and
// these), the challenge MCP clients answer with step-up authorization. Nested uses
// accumulate.
//
//	mux.Handle("/mcp", bearer.Wrap(mcpHandler))
//	admin, err := resourceserver.RequireScopes("admin")
//	mux.Handle("/admin", bearer.Wrap(admin(adminHandler)))
//
// Without [Bearer] in front it refuses every request with 401 and logs the wiring error.
// It returns an error if a scope is not a valid scope token; [MustRequireScopes] panics
// instead.
func RequireScopes(scopes ...string) (func(http.Handler) http.Handler, error) {
	for _, s := range scopes {
		if !oauth.ValidScopeToken(s) {
			return nil, fmt.Errorf("resourceserver: RequireScopes: %q is not a valid scope token", s)
		}
	}
	return requireScopes(unionScopes(scopes)), nil
}

// MustRequireScopes is [RequireScopes] for scopes fixed at compile time: it panics if one
// is not a valid scope token, a programming error found at start-up.
func MustRequireScopes(scopes ...string) func(http.Handler) http.Handler {
	mw, err := RequireScopes(scopes...)
	if err != nil {
		panic(err)
	}
	return mw
}

// requireScopes is RequireScopes' middleware for the checked union extra.
func requireScopes(extra []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g, ok := guardFromContext(r.Context())
			tok, ok2 := TokenFromContext(r.Context())
			if !ok || !ok2 {
				writeUnguarded(w, r)
				return
			}
			required := unionScopes(g.required, extra)
			if missing := MissingScopes(tok.Scopes, required); len(missing) > 0 {
				if g.probe != nil {
					g.probe.stepUp = true
				}
				g.b.reject(w, r, &rejection{oauth.ErrorCodeInsufficientScope,
					"the access token lacks a scope this operation needs: " + strings.Join(missing, " ")}, required, tok.ClientID)
				return
			}
			ctx := contextWithGuard(r.Context(), &guard{b: g.b, required: required, probe: g.probe})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// writeUnguarded refuses a request that reached RequireScopes without passing Bearer.
func writeUnguarded(w http.ResponseWriter, r *http.Request) {
	slog.Default().ErrorContext(r.Context(), "resourceserver: RequireScopes used without Bearer middleware in front; refusing request")
	w.Header().Set("WWW-Authenticate", Challenge{}.String())
	w.Header().Add("Access-Control-Expose-Headers", "WWW-Authenticate")
	writeJSONError(w, http.StatusUnauthorized, oauth.ErrorCodeUnauthorized, "an access token is required")
}
