package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// ClientResolver supplies clients that are described somewhere else than in Storage,
// such as OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document),
// where the client_id is an https URL and the client's metadata is the JSON document
// found there. Package mcp/cimd implements it. Set it as Config.ClientResolver.
//
// For every client ID the resolver Resolves, the provider:
//   - uses the stored client as is when Storage holds one whose Source is not
//     ClientSourceMetadataDocument (an operator's registration wins over a document);
//   - otherwise calls ResolveClient on every lookup (the resolver caches), checks what it
//     returns (same ID, no secret, and MetadataDocumentClientRules through
//     NormalizeClientMetadata: method "none" or private_key_jwt with keys,
//     authorization_code with response type code, valid redirect URIs, the grants this
//     provider serves, the scopes it knows) and stores it with
//     Source ClientSourceMetadataDocument: created on first use, updated whenever the
//     resolved metadata differs from the stored row. The row must exist because codes,
//     tokens and pending authorizations reference their client (storage/gorm enforces
//     it with foreign keys), and it is what consent pages and token validation read.
//     Rows unused for a while that hold nothing live can be pruned (mcp's maintenance
//     does, see registration.PruneUnusedMetadataDocumentClients): the next request
//     resolves and stores the client again.
//
// A failed resolution aborts the request: at the authorization endpoint with an
// invalid_client error page (never a redirect: the redirect URI is not verified), at
// the token, revocation and introspection endpoints with invalid_client.
type ClientResolver interface {
	// Resolves reports whether clientID is the resolver's to resolve (for client ID
	// metadata documents: any ID starting with "https://"). It must be cheap and must
	// not do I/O.
	Resolves(clientID string) bool

	// ResolveClient returns the client clientID names. The returned client is the
	// caller's to modify. Its UpdatedAt is when the metadata was obtained, so that a
	// stored row written from a more recent fetch (by another replica) is not
	// overwritten with older metadata. The error's text is shown to the client in the
	// error description: it must not contain secrets or internal addresses.
	ResolveClient(ctx context.Context, clientID string) (*Client, error)
}

// ClientResolutionError is the error GetClient returns (wrapped by fosite) when
// Config.ClientResolver failed to resolve a client ID.
type ClientResolutionError struct {
	// ClientID is the client ID that could not be resolved.
	ClientID string
	// Err is the resolver's error.
	Err error
}

// Error implements error.
func (e *ClientResolutionError) Error() string {
	return fmt.Sprintf("client %q could not be resolved: %v", e.ClientID, e.Err)
}

// Unwrap returns the resolver's error.
func (e *ClientResolutionError) Unwrap() error { return e.Err }

// rfc6749 returns the invalid_client error sent to the client.
func (e *ClientResolutionError) rfc6749() *fosite.RFC6749Error {
	return fosite.ErrInvalidClient.WithHintf("The client's metadata could not be obtained from its client ID: %v", e.Err).WithWrap(e)
}

// asClientResolutionError replaces an error caused by a failed client resolution (as
// fosite wraps it: "client does not exist") with the resolution's own invalid_client
// error, so that the client learns what went wrong. Other errors are returned as is.
func asClientResolutionError(err error) error {
	var cre *ClientResolutionError
	if err != nil && errors.As(err, &cre) {
		return cre.rfc6749()
	}
	return err
}

// clientResolution looks clients up through Config.ClientResolver and keeps their
// storage rows current (see ClientResolver).
type clientResolution struct {
	resolver ClientResolver
	store    Storage
	rules    ClientRules // MetadataDocumentClientRules narrowed to this provider
	log      *slog.Logger
}

// getClient returns the client id names: from the resolver for the IDs it resolves,
// else from storage. A stored metadata-document client is not used without a resolver
// that resolves it (client ID metadata documents turned off): its metadata can no
// longer be checked against its document.
func getClient(ctx context.Context, r *clientResolution, store Storage, id string) (fosite.Client, error) {
	if r == nil || !r.resolver.Resolves(id) {
		c, err := store.GetClient(ctx, id)
		if pc, ok := c.(*Client); err == nil && ok && pc.Source == ClientSourceMetadataDocument {
			return nil, fmt.Errorf("%w: client ID metadata documents are not enabled", fosite.ErrNotFound)
		}
		return c, err
	}
	return r.resolve(ctx, id)
}

// resolve returns the client for an ID the resolver resolves (see ClientResolver).
func (r *clientResolution) resolve(ctx context.Context, id string) (fosite.Client, error) {
	stored, err := r.store.LoadClient(ctx, id)
	switch {
	case err == nil && stored.Source != ClientSourceMetadataDocument:
		return stored, nil
	case err != nil && !errors.Is(err, fosite.ErrNotFound):
		return nil, err
	case err != nil:
		stored = nil
	}
	c, err := r.resolver.ResolveClient(ctx, id)
	if err == nil {
		c, err = r.normalize(id, c)
	}
	if err != nil {
		r.log.InfoContext(ctx, "provider: client resolution failed", slog.String("client_id", truncate(id, 256)), slog.String("error", err.Error()))
		return nil, &ClientResolutionError{ClientID: id, Err: err}
	}
	return r.persist(ctx, stored, c)
}

// persist stores c (created or updated from stored, the current row or nil) and
// returns the client to use.
func (r *clientResolution) persist(ctx context.Context, stored, c *Client) (*Client, error) {
	if stored == nil {
		now := time.Now().UTC()
		c.CreatedAt = now
		c.UpdatedAt = now
		err := r.store.CreateClient(ctx, c)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrClientExists) {
			return nil, err
		}
		// Created concurrently (another request or replica): compare with that row.
		if stored, err = r.store.LoadClient(ctx, c.ID); err != nil {
			return nil, err
		}
		if stored.Source != ClientSourceMetadataDocument {
			return stored, nil
		}
	}
	if sameClientMetadata(stored, c) {
		return stored, nil
	}
	if !c.UpdatedAt.IsZero() && !stored.UpdatedAt.Before(c.UpdatedAt) {
		// The row was written from a fetch at least as recent as ours (another replica,
		// or a cached document older than the row): keep it rather than go back in time.
		return stored, nil
	}
	c.CreatedAt = stored.CreatedAt
	c.LastUsedAt = stored.LastUsedAt
	c.UpdatedAt = time.Now().UTC()
	if err := r.store.UpdateClient(ctx, c); err != nil {
		if errors.Is(err, fosite.ErrNotFound) { // deleted meanwhile: create it again
			return r.persist(ctx, nil, c)
		}
		return nil, err
	}
	r.log.InfoContext(ctx, "provider: resolved client metadata changed; stored", slog.String("client_id", c.ID))
	return c, nil
}

// normalize checks a resolved client with the metadata document rules
// (MetadataDocumentClientRules, r.rules) and returns it as stored: Source
// ClientSourceMetadataDocument, no secret, no audience beyond the resource registry.
func (r *clientResolution) normalize(id string, c *Client) (*Client, error) {
	switch {
	case c == nil:
		return nil, errors.New("the resolver returned no client")
	case c.ID != id:
		return nil, errors.New("the resolved client has another client ID")
	case len(c.SecretHash) > 0:
		return nil, errors.New("a client from a metadata document cannot have a secret")
	}
	n, err := NormalizeClientMetadata(MetadataOf(c), r.rules)
	if err != nil {
		return nil, err
	}
	n.ID, n.Source, n.UpdatedAt = id, ClientSourceMetadataDocument, c.UpdatedAt
	return n, nil
}

// sameClientMetadata reports whether a and b carry the same client metadata (times
// aside).
func sameClientMetadata(a, b *Client) bool {
	return a.ID == b.ID && a.Public == b.Public && a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod &&
		bytesEqual(a.SecretHash, b.SecretHash) && a.SecretExpiresAt.Equal(b.SecretExpiresAt) &&
		listEqual(a.RedirectURIs, b.RedirectURIs) && listEqual(a.GrantTypes, b.GrantTypes) &&
		listEqual(a.ResponseTypes, b.ResponseTypes) && listEqual(a.Scopes, b.Scopes) &&
		listEqual(a.Audience, b.Audience) && listEqual(a.Contacts, b.Contacts) &&
		a.ApplicationType == b.ApplicationType && a.Name == b.Name && a.URI == b.URI &&
		a.LogoURI == b.LogoURI && a.PolicyURI == b.PolicyURI && a.TOSURI == b.TOSURI &&
		a.SoftwareID == b.SoftwareID && a.SoftwareVersion == b.SoftwareVersion && a.Source == b.Source &&
		bytesEqual(a.RegistrationAccessTokenHash, b.RegistrationAccessTokenHash) &&
		a.TokenEndpointAuthSigningAlg == b.TokenEndpointAuthSigningAlg && sameJWKS(a.JWKS, b.JWKS) && a.JWKSURI == b.JWKSURI
}

// listEqual compares lists, nil and empty being equal (storage returns nil for empty).
func listEqual(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b)) }

// sameJWKS compares key sets by their JSON (a document's key rotation updates the row).
func sameJWKS(a, b *jose.JSONWebKeySet) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func bytesEqual(a, b []byte) bool { return len(a) == len(b) && (len(a) == 0 || string(a) == string(b)) }

// clientIDHost returns the host of a URL client ID (https://host/path), or "".
func clientIDHost(id string) string {
	if !strings.HasPrefix(id, "https://") {
		return ""
	}
	u, err := url.Parse(id)
	if err != nil || u.Opaque != "" {
		return ""
	}
	return DisplayHost(u.String())
}

// truncate shortens s (client-supplied) to at most n bytes for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
