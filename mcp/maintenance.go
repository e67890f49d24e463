package mcp

import (
	"context"
	"errors"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
)

// Maintenance configures the background work of Server.Run.
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

// Maintain runs one round of maintenance now: it purges expired rows when the storage
// supports it (storage/gorm does), prunes dynamically registered clients unused for
// Maintenance.UnusedClientLifetime and client ID metadata document clients unused for
// Maintenance.UnusedMetadataDocumentClientLifetime when the storage can list them. It
// returns how many rows and clients it deleted.
func (s *Server) Maintain(ctx context.Context) (purged int64, pruned int, err error) {
	if p, ok := s.store.(purger); ok {
		n, perr := p.Purge(ctx, time.Now())
		purged, err = n, perr
		s.observePurge(ctx, n)
	}
	if s.maintenance.UnusedClientLifetime > 0 {
		if ps, ok := s.store.(registration.PruneStore); ok {
			n, perr := registration.PruneUnusedClients(ctx, ps, s.maintenance.UnusedClientLifetime)
			pruned, err = n, errors.Join(err, perr)
		}
	}
	if s.maintenance.UnusedMetadataDocumentClientLifetime > 0 {
		if ps, ok := s.store.(registration.MetadataDocumentPruneStore); ok {
			n, perr := registration.PruneUnusedMetadataDocumentClients(ctx, ps, s.maintenance.UnusedMetadataDocumentClientLifetime)
			pruned, err = pruned+n, errors.Join(err, perr)
		}
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
