package registration

import (
	"net/http"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// observe reports a registration, update or deletion of clientID (observe.ClientRegistered,
// ClientUpdated, ClientDeleted) to Options.Observer, when set.
func (h *Handler) observe(r *http.Request, kind observe.Kind, clientID string) {
	if h.opts.Observer == nil {
		return
	}
	reason := ""
	if kind == observe.ClientRegistered {
		reason = "dynamic"
	}
	h.opts.Observer.Observe(r.Context(), observe.Event{Kind: kind, Endpoint: observe.EndpointRegistration, ClientID: clientID, Reason: reason})
}
