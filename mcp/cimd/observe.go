package cimd

import (
	"context"
	"errors"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// errBlocked is the reason shown to the client when the SSRF guard refused every address
// of the document's host (an unresolvable host gets the same text).
var errBlocked = errors.New("the client ID metadata document could not be fetched: its host has no allowed public address")

// observeFetch reports a fetch of clientID's document that started at start and ended
// with err to Options.Observer, when set: its outcome, and a refusal by the SSRF guard
// separately (for the audit trail).
func (r *Resolver) observeFetch(ctx context.Context, clientID string, start time.Time, err error) {
	obs := r.opts.Observer
	if obs == nil {
		return
	}
	outcome := observe.FetchOK
	switch {
	case errors.Is(err, errBlocked):
		outcome = observe.FetchBlocked
		obs.Observe(ctx, observe.Event{Kind: observe.MetadataDocumentBlocked, ClientID: clientID, Reason: "address_not_allowed"})
	case err != nil:
		outcome = observe.FetchError
	}
	obs.Observe(ctx, observe.Event{Kind: observe.MetadataDocumentFetched, Outcome: outcome, Duration: time.Since(start)})
}
