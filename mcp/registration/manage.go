package registration

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// read handles an RFC 7592 §2.1 read request.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, id string) {
	c, token, ok := h.authorizeClient(w, r, id)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.information(c, token, ""))
}

// information is the RFC 7592 §3 client information response. The client secret is
// stored only as a hash, so it appears only when secret is given (newly issued, or
// presented in an update).
func (h *Handler) information(c *provider.Client, registrationToken, secret string) ClientRegistrationResponse {
	resp := ClientRegistrationResponse{
		ClientID:                c.ID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		RegistrationAccessToken: registrationToken,
		RegistrationClientURI:   h.clientURI(c.ID),
		ClientMetadata:          fromClient(c),
	}
	if provider.AuthMethodUsesSecret(c.GetTokenEndpointAuthMethod()) {
		resp.ClientSecretExpiresAt = secretExpiresAt(c)
	}
	return resp
}

// update handles an RFC 7592 §2.2 update request: the body replaces the client's
// metadata (absent members take their defaults), and the registration access token is
// rotated.
func (h *Handler) update(w http.ResponseWriter, r *http.Request, id string) {
	c, _, ok := h.authorizeClient(w, r, id)
	if !ok {
		return
	}
	req, status, rerr := h.readRequest(w, r)
	if rerr != nil {
		writeError(w, status, rerr)
		return
	}
	if rerr := h.checkUpdate(r.Context(), c, req); rerr != nil {
		writeError(w, http.StatusBadRequest, rerr)
		return
	}
	resolved, rerr := h.opts.resolve(req)
	if rerr != nil {
		writeError(w, http.StatusBadRequest, rerr)
		return
	}

	// The request's metadata replaces the client's; identity, secret, audience and
	// times are the client's own.
	now := time.Now().UTC().Truncate(time.Second)
	updated := *resolved
	updated.ID, updated.Source, updated.Audience = c.ID, c.Source, c.Audience
	updated.SecretHash, updated.SecretExpiresAt = c.SecretHash, c.SecretExpiresAt
	updated.CreatedAt, updated.LastUsedAt, updated.UpdatedAt = c.CreatedAt, c.LastUsedAt, now
	secret := req.ClientSecret
	switch {
	case !provider.AuthMethodUsesSecret(updated.TokenEndpointAuthMethod): // none or private_key_jwt
		updated.SecretHash, updated.SecretExpiresAt, secret = nil, time.Time{}, ""
	case len(c.SecretHash) == 0: // became confidential: it needs a secret
		var err error
		if secret, err = h.issueSecret(&updated, now); err != nil {
			h.serverError(w, r, "generating a client secret", err)
			return
		}
	}
	token, hash, err := provider.GenerateSecret()
	if err != nil {
		h.serverError(w, r, "generating a registration access token", err)
		return
	}
	updated.RegistrationAccessTokenHash = hash
	// Only while the token checked above is still the client's: of concurrent requests
	// presenting it, one wins and the others get 401 (RFC 7592 §2.2 rotates it).
	err = h.cas.UpdateClientIfRegistrationToken(r.Context(), &updated, c.RegistrationAccessTokenHash)
	if err != nil {
		if errors.Is(err, fosite.ErrNotFound) { // deleted or token rotated meanwhile
			writeUnauthorized(w, true, "the registration access token is invalid")
			return
		}
		h.serverError(w, r, "updating the client", err)
		return
	}
	h.opts.Logger.InfoContext(r.Context(), "registration: client updated", "client_id", c.ID)
	h.observe(r, observe.ClientUpdated, c.ID)
	writeJSON(w, http.StatusOK, h.information(&updated, token, secret))
}

// checkUpdate applies RFC 7592 §2.2's rules on the members of an update request.
func (h *Handler) checkUpdate(ctx context.Context, c *provider.Client, req *ClientRegistrationRequest) *Error {
	if req.ClientID != c.ID {
		return metadataError("client_id must be present and equal the client's identifier (RFC 7592 §2.2)")
	}
	for _, f := range []struct {
		name    string
		present bool
	}{
		{"registration_access_token", len(req.RegistrationAccessToken) > 0},
		{"registration_client_uri", len(req.RegistrationClientURI) > 0},
		{"client_secret_expires_at", len(req.ClientSecretExpiresAt) > 0},
		{"client_id_issued_at", len(req.ClientIDIssuedAt) > 0},
	} {
		if f.present {
			return metadataError(f.name + " must not be sent in an update (RFC 7592 §2.2)")
		}
	}
	if req.ClientSecret != "" {
		if c.Public || (provider.SecretHasher{}).Compare(ctx, c.GetHashedSecret(), []byte(req.ClientSecret)) != nil {
			return metadataError("client_secret does not match the current secret; a client cannot choose its secret (RFC 7592 §2.2)")
		}
	}
	return nil
}

// delete handles an RFC 7592 §2.3 delete request: the client goes with every grant, code
// and token issued to it.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, id string) {
	c, _, ok := h.authorizeClient(w, r, id)
	if !ok {
		return
	}
	if err := h.cas.DeleteClientIfRegistrationToken(r.Context(), id, c.RegistrationAccessTokenHash); err != nil {
		if errors.Is(err, fosite.ErrNotFound) {
			writeUnauthorized(w, true, "the registration access token is invalid")
			return
		}
		h.serverError(w, r, "deleting the client", err)
		return
	}
	h.opts.Logger.InfoContext(r.Context(), "registration: client deleted", "client_id", id)
	h.observe(r, observe.ClientDeleted, id)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
