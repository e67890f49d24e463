package gosdk_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// TestStorageOutage_GoSDKMiddleware500_RequireBearer503: while the storage is unavailable,
// go-sdk's own auth.RequireBearerToken fed by TokenVerifier answers 500 (go-sdk maps
// every verifier error but auth.ErrInvalidToken to 500; a verifier cannot choose the
// status), never 401; RequireBearer answers 503 with Retry-After, as every endpoint of
// the module does (README "Operations"). The 500 pins go-sdk's behaviour: when it
// changes, update the package doc and the README.
func TestStorageOutage_GoSDKMiddleware500_RequireBearer503(t *testing.T) {
	down := resourceserver.AccessTokenVerifierFunc(func(context.Context, string) (*oauth.AccessToken, error) {
		return nil, fmt.Errorf("%w: the database does not answer", oauth.ErrStorageUnavailable)
	})
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	theirs := httptest.NewServer(auth.RequireBearerToken(gosdk.TokenVerifier(down, resource), nil)(ok))
	defer theirs.Close()
	if resp := post(t, theirs.URL, "some-token", nil, ""); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("go-sdk's middleware during an outage: %d; the README says 500 (update it)", resp.StatusCode)
	}
	protect, err := gosdk.RequireBearer(down, resourceserver.BearerOptions{Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	ours := httptest.NewServer(protect(ok))
	defer ours.Close()
	if resp := post(t, ours.URL, "some-token", nil, ""); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("RequireBearer during an outage: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
