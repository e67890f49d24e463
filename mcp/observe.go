package mcp

import (
	"context"
	"net/http"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// This file holds the MCP layer's side of the observation seam (package observe).

// observeWith joins pcfg's Observer with its audit trail (provider.Config.Audit) into
// s.obs, which every component New builds reports to, and hands the joined observer to
// the provider in their place.
func (s *Server) observeWith(pcfg *provider.Config) {
	s.obs = observe.New(pcfg.Observer, pcfg.Audit, pcfg.Logger)
	pcfg.Observer, pcfg.Audit = s.obs, nil
}

// route wraps the handler of an endpoint for Request events (observe.Handler).
func (s *Server) route(endpoint string, h http.Handler) http.Handler {
	return observe.Handler(s.obs, endpoint, h)
}

// observePurge reports the rows a maintenance round purged.
func (s *Server) observePurge(ctx context.Context, n int64) {
	if s.obs != nil && n > 0 {
		s.obs.Observe(ctx, observe.Event{Kind: observe.Purged, Count: n})
	}
}
