package mcp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Maintenance configures the background work of Server.Run. It needs a storage that can
// purge (a Purge(ctx, before) method) and, for each pruning left on, list unused clients
// (registration.PruneStore with provider.ClientUsageRecorder, and
// registration.MetadataDocumentPruneStore); storage/gorm does it all, and New refuses a
// storage that cannot.
type Maintenance struct {
	// Interval is how often expired codes, tokens and consent requests are purged and
	// unused clients pruned. Default 10 minutes.
	Interval time.Duration
	// UnusedClientLifetime is how long a dynamically registered client may go without
	// obtaining a token before it is deleted with everything issued to it (MCP clients
	// tend to register anew at every login, so abandoned registrations pile up). Default
	// 90 days; negative keeps them forever.
	UnusedClientLifetime time.Duration
	// UnusedMetadataDocumentClientLifetime is how long the stored row of a client from a
	// client ID metadata document (CIMD) may go without obtaining a token before it is
	// deleted, provided it holds no live refresh token, access token, code or pending
	// authorization. Such rows are a copy of a document fetched again when the client
	// returns (the resolver caches documents for at most a day), but any host can make
	// the server add rows at the authorization endpoint's rate. Default 7 days; negative
	// keeps them forever.
	UnusedMetadataDocumentClientLifetime time.Duration
}

// Default maintenance settings.
const (
	DefaultMaintenanceInterval  = 10 * time.Minute
	DefaultUnusedClientLifetime = 90 * 24 * time.Hour
	// DefaultUnusedMetadataDocumentClientLifetime is
	// Maintenance.UnusedMetadataDocumentClientLifetime's default.
	DefaultUnusedMetadataDocumentClientLifetime = 7 * 24 * time.Hour
)

// purger is implemented by storage that can delete expired rows (storage/gorm does).
type purger interface {
	Purge(ctx context.Context, before time.Time) (int64, error)
}

// maintainer is the storage's maintenance capabilities, found once at New.
type maintainer struct {
	purge     purger
	prune     registration.PruneStore                 // nil: UnusedClientLifetime negative
	pruneDocs registration.MetadataDocumentPruneStore // nil: UnusedMetadataDocumentClientLifetime negative
}

// newMaintainer refuses a storage that cannot do what m asks of Run, rather than skip
// that work silently: purging expired rows needs Purge(ctx, before); pruning unused
// clients needs registration.PruneStore and provider.ClientUsageRecorder (without the
// recorder every client would look unused); pruning client ID metadata document clients
// needs registration.MetadataDocumentPruneStore. storage/gorm has them all; a negative
// lifetime turns its pruning off.
func newMaintainer(store provider.Storage, m Maintenance) (maintainer, error) {
	var mt maintainer
	var ok bool
	if mt.purge, ok = store.(purger); !ok {
		return mt, fmt.Errorf("mcp: Provider.Storage (%T) has no Purge(ctx, before) method, which Run needs to delete expired codes, tokens and pending authorizations (storage/gorm has it)", store)
	}
	if m.UnusedClientLifetime > 0 {
		_, recorder := store.(provider.ClientUsageRecorder)
		if mt.prune, ok = store.(registration.PruneStore); !ok || !recorder {
			return mt, fmt.Errorf("mcp: Maintenance.UnusedClientLifetime needs a Provider.Storage (%T) implementing registration.PruneStore and provider.ClientUsageRecorder (storage/gorm does); set it negative to keep unused clients", store)
		}
	}
	if m.UnusedMetadataDocumentClientLifetime > 0 {
		if mt.pruneDocs, ok = store.(registration.MetadataDocumentPruneStore); !ok {
			return mt, fmt.Errorf("mcp: Maintenance.UnusedMetadataDocumentClientLifetime needs a Provider.Storage (%T) implementing registration.MetadataDocumentPruneStore (storage/gorm does); set it negative to keep those rows", store)
		}
	}
	return mt, nil
}

// Maintain runs one round of maintenance now: it purges expired rows, prunes dynamically
// registered clients unused for Maintenance.UnusedClientLifetime and client ID metadata
// document clients unused for Maintenance.UnusedMetadataDocumentClientLifetime. It
// returns how many rows and clients it deleted.
func (s *Server) Maintain(ctx context.Context) (purged int64, pruned int, err error) {
	mt := s.maintainer
	purged, err = mt.purge.Purge(ctx, time.Now())
	s.observePurge(ctx, purged)
	if mt.prune != nil {
		n, perr := registration.PruneUnusedClients(ctx, mt.prune, s.maintenance.UnusedClientLifetime)
		pruned, err = n, errors.Join(err, perr)
	}
	if mt.pruneDocs != nil {
		n, perr := registration.PruneUnusedMetadataDocumentClients(ctx, mt.pruneDocs, s.maintenance.UnusedMetadataDocumentClientLifetime)
		pruned, err = pruned+n, errors.Join(err, perr)
	}
	return purged, pruned, err
}

// Run does the server's background work until ctx is done, then returns ctx's error:
// maintenance every Maintenance.Interval (see Maintain), and with JWT access tokens the
// signing keys' refresh and rotation. Run it in a goroutine on every replica; failures are
// logged and retried at the next round.
func (s *Server) Run(ctx context.Context) error {
	if s.jwt != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.jwt.keys.Run(ctx)
		}()
		defer func() { <-done }() // when Run returns, nothing touches storage any more
	}
	tick := time.NewTicker(s.maintenance.Interval)
	defer tick.Stop()
	for {
		purged, pruned, err := s.Maintain(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.Error("mcp: maintenance", "err", err)
		} else if purged > 0 || pruned > 0 {
			s.logger.Info("mcp: maintenance", "purged_rows", purged, "pruned_clients", pruned)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// withDefaults returns m with its documented defaults filled in.
func (m Maintenance) withDefaults() Maintenance {
	if m.Interval <= 0 {
		m.Interval = DefaultMaintenanceInterval
	}
	if m.UnusedClientLifetime == 0 {
		m.UnusedClientLifetime = DefaultUnusedClientLifetime
	}
	if m.UnusedMetadataDocumentClientLifetime == 0 {
		m.UnusedMetadataDocumentClientLifetime = DefaultUnusedMetadataDocumentClientLifetime
	}
	return m
}
