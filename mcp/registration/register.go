package registration

import (
	"errors"
	"net/http"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/randid"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// register handles an RFC 7591 §3.1 client registration request.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	if h.opts.Policy == PolicyInitialAccessToken && !h.checkInitialAccessToken(w, r) {
		return
	}
	req, status, rerr := h.readRequest(w, r)
	if rerr != nil {
		writeError(w, status, rerr)
		return
	}
	c, rerr := h.opts.resolve(req)
	if rerr != nil {
		h.opts.Logger.DebugContext(r.Context(), "registration: request refused", "error", rerr.ErrorCode, "reason", rerr.ErrorDescription)
		writeError(w, http.StatusBadRequest, rerr)
		return
	}

	now := time.Now().UTC().Truncate(time.Second)
	c.Source, c.CreatedAt, c.UpdatedAt = provider.ClientSourceDynamic, now, now
	resp := ClientRegistrationResponse{ClientIDIssuedAt: now.Unix(), ClientMetadata: fromClient(c)}
	if provider.AuthMethodUsesSecret(c.TokenEndpointAuthMethod) {
		secret, err := h.issueSecret(c, now)
		if err != nil {
			h.serverError(w, r, "generating a client secret", err)
			return
		}
		resp.ClientSecret = secret
		resp.ClientSecretExpiresAt = secretExpiresAt(c)
	}
	if !h.opts.DisableManagement {
		token, hash, err := provider.GenerateSecret()
		if err != nil {
			h.serverError(w, r, "generating a registration access token", err)
			return
		}
		c.RegistrationAccessTokenHash = hash
		resp.RegistrationAccessToken = token
	}
	if err := h.create(r, c); err != nil {
		h.serverError(w, r, "storing the client", err)
		return
	}
	resp.ClientID = c.ID
	if !h.opts.DisableManagement {
		resp.RegistrationClientURI = h.clientURI(c.ID)
	}
	h.opts.Logger.InfoContext(r.Context(), "registration: client registered",
		"client_id", c.ID, "client_name", c.Name, "token_endpoint_auth_method", c.TokenEndpointAuthMethod)
	h.observe(r, observe.ClientRegistered, c.ID)
	writeJSON(w, http.StatusCreated, resp)
}

// create stores c under a fresh client ID, retrying on the (astronomically unlikely)
// collision. The ID is the registration time and 128 random bits, in an order that sorts
// by time (randid.Ordered): clients registered together are neighbours in every index by
// client ID, so a login that registers its client changes fewer index pages. The ID
// shows its registration time to anyone who sees it (the registrant gets it anyway as
// client_id_issued_at); a client ID is public, and a minute of registration says little.
func (h *Handler) create(r *http.Request, c *provider.Client) error {
	for range 3 {
		id, err := randid.Ordered(randid.Unique)
		if err != nil {
			return err
		}
		c.ID = id
		err = h.store.CreateClient(r.Context(), c)
		if !errors.Is(err, provider.ErrClientExists) {
			return err
		}
	}
	return provider.ErrClientExists
}

// issueSecret gives c a new generated secret (256 bits, stored as its SHA-256) and
// returns it.
func (h *Handler) issueSecret(c *provider.Client, now time.Time) (string, error) {
	secret, hash, err := provider.GenerateSecret()
	if err != nil {
		return "", err
	}
	c.SecretHash = hash
	c.SecretExpiresAt = time.Time{}
	if h.opts.ClientSecretLifespan > 0 {
		c.SecretExpiresAt = now.Add(h.opts.ClientSecretLifespan)
	}
	return secret, nil
}

// secretExpiresAt is client_secret_expires_at: seconds since the epoch, 0 for never.
func secretExpiresAt(c *provider.Client) *int64 {
	var exp int64
	if !c.SecretExpiresAt.IsZero() {
		exp = c.SecretExpiresAt.Unix()
	}
	return &exp
}

// serverError answers a failed storage call: 503 temporarily_unavailable with Retry-After
// when the storage is unavailable (provider.ErrStorageUnavailable: the client should
// retry, its registration is not in question), else 500 server_error.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, provider.ErrStorageUnavailable) {
		h.opts.Logger.WarnContext(r.Context(), "registration: "+what+" failed: storage unavailable", "err", err)
		w.Header().Set("Retry-After", provider.RetryAfterStorage)
		writeError(w, http.StatusServiceUnavailable, &Error{ErrorCode: provider.ErrorCodeTemporarilyUnavailable,
			ErrorDescription: what + " failed: the storage is unavailable; retry later"})
		return
	}
	h.opts.Logger.ErrorContext(r.Context(), "registration: "+what+" failed", "err", err)
	writeError(w, http.StatusInternalServerError, &Error{ErrorCode: provider.ErrorCodeServerError, ErrorDescription: what + " failed"})
}
