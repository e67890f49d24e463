package cimd_test

import (
	"context"
	"fmt"
	"html"
	"log"
	"net/http"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Turning client ID metadata documents on for an mcp.New server: clients such as the
// go-sdk's (auth.ClientIDMetadataDocumentConfig) then log in with the URL of their
// document as client_id, without registering. A consent page shows who publishes the
// client's name (ClientIDHost) next to where the user will be sent (RedirectHost).
func Example() {
	var store provider.Storage // storage/gorm, see package gormstore
	secret := []byte("use 32 random bytes, stable across restarts")

	auth, err := mcp.New(context.Background(), mcp.Config{
		Provider: provider.Config{
			Issuer: "https://auth.example.com", Storage: store, GlobalSecret: secret,
			LoginURL: "https://auth.example.com/consent", // your login and consent page
		},
		Resources: []resourceserver.Resource{{URL: "https://example.com/mcp", Name: "Files", Scopes: []string{"files:read"}}},
		// The package defaults: 5 s timeout, 5 KiB documents, cached per Cache-Control
		// (5 minutes without it, 24 hours at most), public addresses only.
		ClientIDMetadataDocuments: &mcp.ClientIDMetadataDocuments{Enabled: true, Options: cimd.Options{Timeout: 3 * time.Second}},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	auth.Register(mux)
	mux.HandleFunc("/consent", func(w http.ResponseWriter, r *http.Request) {
		req, err := auth.Provider().AuthorizationRequest(r, r.URL.Query().Get(provider.LoginRequestParam))
		if err != nil {
			http.Error(w, "unknown or expired request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<p>%s", html.EscapeString(req.ClientName))
		if req.ClientIDHost != "" {
			fmt.Fprintf(w, " (published by %s)", html.EscapeString(req.ClientIDHost))
		}
		fmt.Fprintf(w, " will send you to %s</p>", html.EscapeString(req.RedirectHost))
		// … a POST form to log the user in, then auth.Provider().Approve or Deny.
	})
}

// Which client IDs are document URLs this server accepts
// (draft-ietf-oauth-client-id-metadata-document-00 §3).
func ExampleValidateClientIDURL() {
	for _, id := range []string{
		"https://app.example.com/oauth/client-metadata.json",
		"https://app.example.com/",
		"http://app.example.com/client",
		"https://app.example.com/a/../client",
		"https://app.example.com/client?version=2",
	} {
		fmt.Println(id, cimd.ValidateClientIDURL(id))
	}
	// Output:
	// https://app.example.com/oauth/client-metadata.json <nil>
	// https://app.example.com/ the client ID URL must have a path
	// http://app.example.com/client the client ID URL must use https
	// https://app.example.com/a/../client the client ID URL must not contain dot segments
	// https://app.example.com/client?version=2 the client ID URL must not contain a query
}
