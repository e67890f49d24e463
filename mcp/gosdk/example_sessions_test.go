package gosdk_test

import (
	"log"
	"net/http"
	"time"

	sdkmcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/mcp/sessions"
)

// Tighter session bounds than the defaults (64 per user, 10,000 in all, 30 minutes
// idle), for a small deployment; go-sdk's own idle timeout set to match.
func ExampleWithSessions() {
	var auth *mcp.Server // from mcp.New, as in the Protect example
	var getServer func(*http.Request) *sdkmcp.Server
	protect, err := gosdk.Protect(auth, resourceserver.BearerOptions{Resource: "https://example.com/mcp"},
		gosdk.WithSessions(&sessions.Options{MaxPerSubject: 8, MaxTotal: 500, IdleTimeout: 10 * time.Minute}))
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/mcp", protect(sdkmcp.NewStreamableHTTPHandler(getServer, &sdkmcp.StreamableHTTPOptions{SessionTimeout: 10 * time.Minute})))
}
