package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
)

// metadataDocServer serves one client ID metadata document over HTTPS on loopback and
// counts the fetches.
type metadataDocServer struct {
	srv      *httptest.Server
	clientID string
	fetches  atomic.Int32
}

// newMetadataDocServer serves a public client's document (no grant_types: the demo's
// lenient registration fills in authorization_code and refresh_token) named name with
// redirectURI at /clients/notes.json.
func newMetadataDocServer(t *testing.T, name, redirectURI string) *metadataDocServer {
	t.Helper()
	d := &metadataDocServer{}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/clients/notes.json" {
			http.NotFound(w, r)
			return
		}
		d.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id":                  d.clientID,
			"client_name":                name,
			"client_uri":                 "https://notes.example/about",
			"redirect_uris":              []string{redirectURI},
			"token_endpoint_auth_method": "none",
		})
	}))
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	d.clientID = d.srv.URL + "/clients/notes.json"
	return d
}

// options lets the demo fetch documents from this server: loopback allowed (the SSRF
// guard refuses it otherwise) and its certificate trusted.
func (d *metadataDocServer) options() *cimd.Options {
	roots := x509.NewCertPool()
	roots.AddCert(d.srv.Certificate())
	return &cimd.Options{AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() }, RootCAs: roots}
}

// host is the document server's host:port, what the consent page must name.
func (d *metadataDocServer) host() string { return strings.TrimPrefix(d.srv.URL, "https://") }

// MCP 2025-11-25 §Client ID Metadata Documents and draft-ietf-oauth-client-id-metadata-
// document-00 §6 (phishing): with a URL client ID the consent page names the host that
// publishes the client's metadata next to the self-asserted name, and the whole flow
// works without registration: login, consent, approve, a code that redeems for a token
// issued to the URL client ID, with a refresh token.
func TestConsentPageURLClientIDShowsPublishingHost(t *testing.T) {
	const redirect = "http://127.0.0.1:9/callback"
	docs := newMetadataDocServer(t, "Notes via CIMD", redirect)
	demo := startDemo(t, demoOptions{cimd: docs.options()})
	c := registeredClient{ID: docs.clientID, RedirectURI: redirect, verifier: rand.Text() + rand.Text()}

	f := startFlow(t, demo, demo.authorizeURL(c, "st-cimd", ""))
	if f.status != http.StatusOK {
		t.Fatalf("login page: %d\n%s", f.status, f.page)
	}
	mustContain(t, "login page", f.page, "Notes via CIMD")
	f.login("alice", "wonderland")
	mustContain(t, "consent page", f.page,
		"Notes via CIMD", "Published by", "<strong>"+docs.host()+"</strong>", docs.clientID,
		"notes.example", "unverified", "127.0.0.1:9", "This application runs on your computer")

	u := f.decide("approve")
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != redirect || q.Get("code") == "" || q.Get("state") != "st-cimd" || q.Get("iss") != demo.url {
		t.Fatalf("approve redirected to %s: want %s with code, state and iss", u, redirect)
	}
	tok := demo.exchange(t, c, q.Get("code"))
	if rt, _ := tok["refresh_token"].(string); rt == "" {
		t.Errorf("no refresh token for a document without grant_types (lenient registration): %v", tok)
	}
	at, err := demo.server.as.VerifyAccessToken(context.Background(), tok["access_token"].(string))
	if err != nil || at.ClientID != docs.clientID || at.Subject != "alice" {
		t.Errorf("token: %+v, %v; want client_id %s, subject alice", at, err, docs.clientID)
	}
	if docs.fetches.Load() < 1 {
		t.Error("the document was never fetched")
	}
}

// A registered client's consent page names no publishing host: its name is vouched for
// by nobody but its registration.
func TestConsentPageRegisteredClientHasNoPublishingHost(t *testing.T) {
	demo := startDemo(t, demoOptions{})
	c := demo.register(t, "Notes App", "http://127.0.0.1:9/callback", nil)
	f := startFlow(t, demo, demo.authorizeURL(c, "st", ""))
	f.login("alice", "wonderland")
	if strings.Contains(f.page, "Published by") {
		t.Errorf("consent page of a registered client claims a publishing host:\n%s", f.page)
	}
}

// The demo advertises client ID metadata documents by default (RFC 8414 metadata
// client_id_metadata_document_supported); with -cimd=false it does not, and a URL
// client ID is refused without a fetch and without a redirect.
func TestCIMDAdvertisedByDefaultAndOffWithFlag(t *testing.T) {
	supported := func(demo *testDemo) any {
		resp, err := http.Get(demo.url + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m["client_id_metadata_document_supported"]
	}
	if got := supported(startDemo(t, demoOptions{})); got != true {
		t.Errorf("default: client_id_metadata_document_supported = %v, want true", got)
	}

	const redirect = "http://127.0.0.1:9/callback"
	docs := newMetadataDocServer(t, "Notes via CIMD", redirect)
	off := startDemo(t, demoOptions{cimdOff: true})
	if got := supported(off); got != nil {
		t.Errorf("-cimd=false: client_id_metadata_document_supported = %v, want absent", got)
	}
	c := registeredClient{ID: docs.clientID, RedirectURI: redirect, verifier: rand.Text() + rand.Text()}
	resp, err := pageClient(t).Get(off.authorizeURL(c, "st", ""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 || resp.StatusCode < 400 {
		t.Errorf("-cimd=false: authorize with a URL client ID answered %d (Location %q), want an error without redirect", resp.StatusCode, loc)
	}
	if n := docs.fetches.Load(); n != 0 {
		t.Errorf("-cimd=false: the document was fetched %d times", n)
	}

	// The flag itself.
	for args, want := range map[string]bool{"": true, "-cimd=false": false} {
		f, err := parseServeFlags(strings.Fields(args), io.Discard)
		if err != nil || f.cimd != want || (cimdOptions(f.cimd) != nil) != want {
			t.Errorf("parseServeFlags(%q): cimd %v (%v), want %v", args, f.cimd, err, want)
		}
	}
}
