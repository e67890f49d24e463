package mcp

import (
	"encoding/json"
	"net/http"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// ReadinessHandler returns a readiness probe for load balancers and orchestrators (mount
// it at e.g. /readyz): 200 {"status":"ready"} when the storage answers within
// provider.ReadinessTimeout (1 s; see provider.Provider.Ready), else 503
// {"status":"unavailable"} with Retry-After. A replica that is not ready answers its OAuth
// and MCP requests with 503 too, so taking it out of rotation only spares clients the
// retries. Liveness ("the process is up") needs no storage: keep it a separate probe, so
// that a database outage does not get every replica restarted.
func (s *Server) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		if err := s.provider.Ready(r.Context()); err != nil {
			s.logger.WarnContext(r.Context(), "mcp: not ready", "err", err)
			h.Set("Retry-After", provider.RetryAfterStorage)
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
	})
}
