package compat_test

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// LenientRegistration also covers client ID metadata documents
// (draft-ietf-oauth-client-id-metadata-document-00, mcp.Config.ClientIDMetadataDocuments):
// a document without grant_types, which RFC 7591 §2 (the metadata the document uses)
// makes an authorization_code-only client, gets refresh_token too with the shim, as a
// registration without grant_types does; without it the login works and yields no
// refresh token. The document is served over HTTPS on loopback, which the SSRF guard
// admits only because the test says so (cimd.Options.AllowAddress).
func TestLenientRegistration_ClientIDMetadataDocumentWithoutGrantTypes(t *testing.T) {
	modes(t, func(o *compat.Options) { o.LenientRegistration = false }, func(t *testing.T, store *gormstore.Store, opts compat.Options, on bool) {
		const redirect = "http://127.0.0.1:5173/callback"
		var clientID string
		docs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/oauth/client-metadata.json" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{ // no grant_types
				"client_id": clientID, "client_name": "Document client", "redirect_uris": []string{redirect},
				"token_endpoint_auth_method": "none",
			})
		}))
		docs.Config.ErrorLog = log.New(io.Discard, "", 0)
		docs.StartTLS()
		t.Cleanup(docs.Close)
		clientID = docs.URL + "/oauth/client-metadata.json"
		roots := x509.NewCertPool()
		roots.AddCert(docs.Certificate())

		s := newStack(t, store, opts, func(o *teststack.Options) {
			o.ClientIDMetadataDocuments = &mcp.ClientIDMetadataDocuments{Enabled: true, Options: cimd.Options{
				AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() },
				RootCAs:      roots,
				Logger:       quiet,
			}}
		})
		tok := s.login(clientID, redirect, url.Values{"state": {"ZGVmYXVsdC1zdGF0ZS0wMTIz"}, "resource": {s.MCPURL}}, url.Values{"resource": {s.MCPURL}})
		if (tok.RefreshToken != "") != on {
			t.Errorf("refresh token %v; want one exactly with the shim", tok.RefreshToken != "")
		}
		if status, at := s.call(tok.AccessToken); status != http.StatusOK || at.ClientID != clientID {
			t.Errorf("MCP call: %d, client_id %q; want 200, %s", status, at.ClientID, clientID)
		}
	})
}
