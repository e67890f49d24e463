package provider

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
)

// Storage is everything the provider persists. storage/gorm implements it for SQLite and
// PostgreSQL. The fosite interfaces carry fosite's error contract (see fosite-notes):
// not found → fosite.ErrNotFound; a used code → the Requester and
// fosite.ErrInvalidatedAuthorizeCode; a rotated refresh token → the Requester and
// fosite.ErrInactiveToken; conflicting concurrent writes → fosite.ErrSerializationFailure.
// The signatures of the codes and opaque tokens the provider issues start with their issue
// time; a store that keeps a hash of them should keep that prefix in clear before it
// (SignatureIssueOrder).
type Storage interface {
	fosite.ClientManager
	oauth2.AuthorizeCodeStorage
	oauth2.AccessTokenStorage
	oauth2.RefreshTokenStorage
	oauth2.TokenRevocationStorage
	pkce.PKCERequestStorage
	fositestorage.Transactional
	ClientStore
	PendingAuthorizationStore
}

// ClientStore manages clients beyond fosite's read-only ClientManager.
type ClientStore interface {
	// CreateClient stores a new client; ErrClientExists when the ID is taken.
	CreateClient(ctx context.Context, c *Client) error
	// UpdateClient replaces a stored client's metadata; fosite.ErrNotFound when absent.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes a client with every grant, code and token issued to it;
	// fosite.ErrNotFound when absent.
	DeleteClient(ctx context.Context, id string) error
	// LoadClient returns the stored client; fosite.ErrNotFound when absent.
	LoadClient(ctx context.Context, id string) (*Client, error)
}

// ErrClientExists is returned by ClientStore.CreateClient when the client ID is taken.
var ErrClientExists = errors.New("client already exists")

// PendingAuthorization is a validated authorization request waiting for the user's
// login and consent (the "consent handoff"). It is stored server-side under an opaque,
// single-use, short-lived ID; only a hash of the ID reaches storage.
type PendingAuthorization struct {
	// ClientID is the requesting client.
	ClientID string
	// Form holds the authorization request parameters the flow needs, after validation:
	// response_type, client_id, redirect_uri, scope, state, code_challenge,
	// code_challenge_method and resource. Other parameters are not kept.
	Form url.Values
	// CreatedAt is when the request was stored.
	CreatedAt time.Time
	// ExpiresAt is when the request stops being usable.
	ExpiresAt time.Time
	// BrowserBinding is a hash of the random value the authorization endpoint gave the
	// browser that sent the request, in a cookie (never the value itself): only that
	// browser may see, approve or deny the request. Empty for requests stored before
	// binding existed, which cannot be answered.
	BrowserBinding string
	// LoginAttempts counts the passwords tried for this request on the built-in login
	// page (PendingAuthorizationStore.CountLoginAttempt); storage sets it, Create ignores it.
	LoginAttempts int
}

// PendingAuthorizationStore keeps pending authorization requests.
type PendingAuthorizationStore interface {
	// CreatePendingAuthorization stores p under id.
	CreatePendingAuthorization(ctx context.Context, id string, p *PendingAuthorization) error
	// GetPendingAuthorization returns the pending request without consuming it;
	// fosite.ErrNotFound when absent, consumed or expired.
	GetPendingAuthorization(ctx context.Context, id string) (*PendingAuthorization, error)
	// ConsumePendingAuthorization returns the pending request and marks it used, atomically:
	// of several concurrent calls exactly one succeeds, the others get fosite.ErrNotFound
	// (also when absent or expired).
	ConsumePendingAuthorization(ctx context.Context, id string) (*PendingAuthorization, error)
	// CountLoginAttempt counts one password attempt on the pending request id before the
	// password is checked, atomically and only while fewer than limit attempts were
	// counted, so that concurrent attempts (on any number of replicas) never exceed
	// limit. It returns the count including this attempt; fosite.ErrNotFound when limit
	// attempts were already counted or the request is absent, consumed or expired.
	CountLoginAttempt(ctx context.Context, id string, limit int) (int, error)
}
