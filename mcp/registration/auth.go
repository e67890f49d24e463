package registration

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// checkInitialAccessToken enforces PolicyInitialAccessToken (RFC 7591 §3): a Bearer token
// whose hash equals one of the configured hashes, compared in constant time against every
// one of them. It writes the 401 itself and reports whether the request may proceed.
func (h *Handler) checkInitialAccessToken(w http.ResponseWriter, r *http.Request) bool {
	token := bearerToken(r)
	if token == "" {
		writeUnauthorized(w, false, "an initial access token is required")
		return false
	}
	hash := provider.HashGeneratedSecret(token)
	match := 0
	for _, want := range h.opts.InitialAccessTokenHashes {
		match |= subtle.ConstantTimeCompare(hash, want)
	}
	if match != 1 {
		h.opts.Logger.InfoContext(r.Context(), "registration: invalid initial access token")
		writeUnauthorized(w, true, "the initial access token is invalid")
		return false
	}
	return true
}

// authorizeClient authenticates an RFC 7592 request for client id with its registration
// access token. An unknown client, a client without registration access token (static
// clients) and a wrong token all get the same 401 invalid_token (RFC 7592 §2). It writes
// the error itself; on success it returns the client and the presented token.
func (h *Handler) authorizeClient(w http.ResponseWriter, r *http.Request, id string) (*provider.Client, string, bool) {
	token := bearerToken(r)
	if token == "" {
		writeUnauthorized(w, false, "a registration access token is required")
		return nil, "", false
	}
	c, err := h.store.LoadClient(r.Context(), id)
	if err != nil && !errors.Is(err, fosite.ErrNotFound) {
		h.serverError(w, r, "loading the client", err)
		return nil, "", false
	}
	if err != nil || c.Source != provider.ClientSourceDynamic || len(c.RegistrationAccessTokenHash) == 0 ||
		subtle.ConstantTimeCompare(c.RegistrationAccessTokenHash, provider.HashGeneratedSecret(token)) != 1 {
		writeUnauthorized(w, true, "the registration access token is invalid")
		return nil, "", false
	}
	return c, token, true
}
