package registration

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// UnusedClientLister lists dynamically registered clients that have not been used since a
// time. A store implements it to support [PruneUnusedClients].
type UnusedClientLister interface {
	// ListUnusedClients returns up to limit IDs of clients with Source
	// provider.ClientSourceDynamic whose LastUsedAt (CreatedAt when never used) is before
	// cutoff and that hold nothing live (no live refresh token, access token or code, no
	// pending authorization or device authorization: a login under way keeps its client).
	ListUnusedClients(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
}

// PruneStore is what [PruneUnusedClients] needs.
type PruneStore interface {
	provider.ClientStore
	UnusedClientLister
}

// UnusedMetadataDocumentClientLister lists clients stored from client ID metadata
// documents that have not been used since a time and hold nothing live. A store
// implements it to support [PruneUnusedMetadataDocumentClients].
type UnusedMetadataDocumentClientLister interface {
	// ListUnusedMetadataDocumentClients returns up to limit IDs of clients with Source
	// provider.ClientSourceMetadataDocument whose LastUsedAt (CreatedAt when never used)
	// is before cutoff and that hold no live refresh token, access token, code, pending
	// authorization or device authorization.
	ListUnusedMetadataDocumentClients(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
}

// MetadataDocumentPruneStore is what [PruneUnusedMetadataDocumentClients] needs.
type MetadataDocumentPruneStore interface {
	provider.ClientStore
	UnusedMetadataDocumentClientLister
}

// UnusedClientDeleter deletes a client only if it is still an unused one, in one
// conditional write. A prune store that implements it closes the gap between the listing
// and the deletion (a login that begins in between keeps its client); without it each
// candidate is re-loaded and its last use re-checked before ClientStore.DeleteClient.
type UnusedClientDeleter interface {
	// DeleteUnusedClient deletes client id, with every grant, code and token issued to
	// it, if it is a client of source that its store's listing would still return for
	// cutoff; fosite.ErrNotFound when it is not (absent, used, or holding something live).
	DeleteUnusedClient(ctx context.Context, id string, source provider.ClientSource, cutoff time.Time) error
}

// pruneBatch is how many clients one listing returns.
const pruneBatch = 100

// PruneUnusedClients deletes dynamically registered clients unused for olderThan that hold
// nothing live (see UnusedClientLister), with every grant, code and token issued to them
// (ClientStore.DeleteClient), and returns how many it deleted. Each candidate is re-loaded and re-checked before deletion, so a client
// used meanwhile survives. Static clients are never deleted. Run it periodically (for
// example daily with olderThan of 90 days) so that abandoned registrations do not pile up.
func PruneUnusedClients(ctx context.Context, store PruneStore, olderThan time.Duration) (int, error) {
	return prune(ctx, store, store.ListUnusedClients, provider.ClientSourceDynamic, olderThan)
}

// PruneUnusedMetadataDocumentClients deletes the stored rows of clients from client ID
// metadata documents (provider.ClientSourceMetadataDocument) unused for olderThan that hold
// nothing live (see UnusedMetadataDocumentClientLister), and returns how many it deleted.
// Such a row is a copy of a document the server fetches again when the client returns,
// but any host can make the server add rows (one per URL, at the authorization
// endpoint's rate), so they must not pile up. Each candidate is re-loaded and re-checked
// before deletion, as in PruneUnusedClients; other clients are never deleted.
func PruneUnusedMetadataDocumentClients(ctx context.Context, store MetadataDocumentPruneStore, olderThan time.Duration) (int, error) {
	return prune(ctx, store, store.ListUnusedMetadataDocumentClients, provider.ClientSourceMetadataDocument, olderThan)
}

// prune deletes the clients of source that list returns for the cutoff olderThan ago,
// in batches, re-checking each (see pruneOne).
func prune(ctx context.Context, store provider.ClientStore, list func(context.Context, time.Time, int) ([]string, error),
	source provider.ClientSource, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		return 0, errors.New("registration: pruning unused clients needs a positive olderThan")
	}
	cutoff := time.Now().Add(-olderThan)
	deleted := 0
	seen := map[string]bool{}
	for {
		ids, err := list(ctx, cutoff, pruneBatch)
		if err != nil {
			return deleted, fmt.Errorf("registration: listing unused clients: %w", err)
		}
		progress := false
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			progress = true
			ok, err := pruneOne(ctx, store, id, source, cutoff)
			if err != nil {
				return deleted, err
			}
			if ok {
				deleted++
			}
		}
		if len(ids) < pruneBatch || !progress {
			return deleted, nil
		}
	}
}

// pruneOne deletes client id if it is still a client of source unused since cutoff: in
// one conditional write when store is an UnusedClientDeleter.
func pruneOne(ctx context.Context, store provider.ClientStore, id string, source provider.ClientSource, cutoff time.Time) (bool, error) {
	if d, ok := store.(UnusedClientDeleter); ok {
		err := d.DeleteUnusedClient(ctx, id, source, cutoff)
		switch {
		case errors.Is(err, fosite.ErrNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("registration: deleting client %q: %w", id, err)
		}
		return true, nil
	}
	c, err := store.LoadClient(ctx, id)
	if errors.Is(err, fosite.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("registration: loading client %q: %w", id, err)
	}
	last := c.LastUsedAt
	if last.IsZero() {
		last = c.CreatedAt
	}
	if c.Source != source || !last.Before(cutoff) {
		return false, nil
	}
	if err := store.DeleteClient(ctx, id); err != nil {
		if errors.Is(err, fosite.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("registration: deleting client %q: %w", id, err)
	}
	return true, nil
}
