package cimd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

const (
	// flowRedirect is the redirect URI of the flow documents; nothing listens there: the
	// test browser reads the authorization response from the Location header.
	flowRedirect = "http://127.0.0.1:8765/callback"
	flowSubject  = "alice"
	flowScope    = "tools"
)

// stack is teststack's full server (mcp.New) over loopback HTTP in front of one MCP
// resource, with client ID metadata documents served by docs.
type stack struct {
	auth     *mcp.Server
	store    *gormstore.Store
	srv      *httptest.Server
	issuer   string
	resource string
	docs     *docServer

	mu    sync.Mutex
	views []provider.AuthorizationRequest // what AutoApprove saw
}

// newStack starts the servers; opts nil leaves client ID metadata documents off.
func newStack(t testing.TB, store *gormstore.Store, docs *docServer, opts *cimd.Options) *stack {
	t.Helper()
	s := &stack{store: store, docs: docs}
	var docsCfg *mcp.ClientIDMetadataDocuments
	var keysCfg *jwtaccess.RemoteKeySetsConfig
	if opts != nil {
		o := *opts
		// Test-only: the documents are on loopback behind a test certificate.
		o.AllowAddress = func(a netip.Addr) bool { return a.IsLoopback() }
		o.RootCAs = docs.roots()
		o.Logger = quiet
		docsCfg = &mcp.ClientIDMetadataDocuments{Enabled: true, Options: o}
		// Clients' key sets (jwks_uri) are on the same server; an unknown kid refetches
		// at once (the rate limit has its own test in provider). At once means a
		// nanosecond: with a millisecond, a kid rotated in less than that after the
		// previous refetch stayed unknown on a fast run (a flake, 2 in 40 runs).
		keysCfg = &jwtaccess.RemoteKeySetsConfig{
			AllowAddress: o.AllowAddress, RootCAs: o.RootCAs, Logger: quiet, MinRefetchInterval: time.Nanosecond,
		}
	}
	st := teststack.Start(t, teststack.Options{
		Store:      store,
		RootIssuer: true,
		Subject:    flowSubject,
		Resources:  []resourceserver.Resource{{URL: teststack.Origin + "/mcp", Name: "Tools", Scopes: []string{flowScope}, DefaultScopes: []string{flowScope}}},
		Provider: func(cfg *provider.Config) {
			approve := cfg.AutoApprove
			cfg.AutoApprove = func(ctx context.Context, req *provider.AuthorizationRequest) (string, bool) {
				s.mu.Lock()
				s.views = append(s.views, *req)
				s.mu.Unlock()
				return approve(ctx, req)
			}
		},
		ClientIDMetadataDocuments: docsCfg,
		ClientKeySets:             keysCfg,
		Logger:                    quiet,
	})
	s.auth, s.srv, s.issuer, s.resource = st.Server, st.HTTP, st.Issuer, st.MCPURL
	return s
}

// lastView returns what AutoApprove saw last.
func (s *stack) lastView() provider.AuthorizationRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.views[len(s.views)-1]
}

// browser does not follow redirects.
var browser = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// authorize sends an authorization request for clientID and returns the response.
func (s *stack) authorize(t testing.TB, clientID, verifier string) *http.Response {
	t.Helper()
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {flowRedirect},
		"scope":                 {flowScope},
		"state":                 {"state-1234"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {s.resource},
	}
	resp, err := browser.Get(s.issuer + provider.AuthorizePath + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// tokenResponse is the token endpoint's JSON.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// token posts form to the token endpoint.
func (s *stack) token(t testing.TB, form url.Values) (int, tokenResponse) {
	t.Helper()
	resp, err := http.PostForm(s.issuer+provider.TokenPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token response %q: %v", body, err)
	}
	return resp.StatusCode, tr
}

// code runs authorization (auto-approved) for clientID and returns the code exchange's
// form, without client authentication beyond client_id.
func (s *stack) code(t testing.TB, clientID string) url.Values {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	resp := s.authorize(t, clientID, verifier)
	loc, err := resp.Location()
	if err != nil {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), flowRedirect) || q.Get("code") == "" || q.Get("iss") != s.issuer {
		t.Fatalf("authorize redirected to %s", loc)
	}
	return url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {flowRedirect}, "client_id": {clientID}, "resource": {s.resource},
	}
}

// login runs authorization (auto-approved) and the code exchange for clientID.
func (s *stack) login(t testing.TB, clientID string) tokenResponse {
	t.Helper()
	status, tok := s.token(t, s.code(t, clientID))
	if status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d %+v", status, tok)
	}
	return tok
}

// metadataFlag reads client_id_metadata_document_supported from the RFC 8414 metadata.
func (s *stack) metadataFlag(t testing.TB) any {
	t.Helper()
	resp, err := http.Get(s.issuer + "/.well-known/oauth-authorization-server")
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

// flowDoc is the document of a client that wants refresh tokens.
func flowDoc(id, name string) map[string]any {
	return map[string]any{
		"client_id":                  id,
		"client_name":                name,
		"redirect_uris":              []string{flowRedirect},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_method": "none",
	}
}

// MCP 2025-11-25 §Client ID Metadata Documents: a client whose client_id is the URL of
// its document logs in without registering; the token's client_id is that URL; the
// client is stored as a metadata-document client; a second login uses the cached
// document; refresh works; the consent view shows the client ID's host.
func TestFlow_LoginWithClientIDMetadataDocument(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		id := docs.url("/oauth/client-metadata.json")
		docs.serve("/oauth/client-metadata.json", flowDoc(id, "Flow Client"), "public, max-age=3600")
		s := newStack(t, store, docs, &cimd.Options{})
		if flag := s.metadataFlag(t); flag != true {
			t.Fatalf("client_id_metadata_document_supported = %v, want true", flag)
		}

		tok := s.login(t, id)
		at, err := s.auth.VerifyAccessToken(t.Context(), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if at.ClientID != id || at.Subject != flowSubject || len(at.Audience) != 1 || at.Audience[0] != s.resource {
			t.Fatalf("access token %+v, want client %s", at, id)
		}
		view := s.lastView()
		host := strings.TrimPrefix(docs.srv.URL, "https://")
		if view.ClientID != id || view.ClientName != "Flow Client" || view.ClientIDHost != host || view.RedirectHost != "127.0.0.1:8765" {
			t.Fatalf("consent view %+v, want client ID host %s", view, host)
		}
		stored, err := store.LoadClient(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Source != provider.ClientSourceMetadataDocument || !stored.Public || stored.Name != "Flow Client" {
			t.Fatalf("stored client %+v", stored)
		}

		// Refresh: the client authenticates with its client_id only (public client).
		status, refreshed := s.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {id}})
		if status != http.StatusOK || refreshed.AccessToken == "" {
			t.Fatalf("refresh: %d %+v", status, refreshed)
		}

		// Second login: the document comes from the cache.
		s.login(t, id)
		if n := docs.count("/oauth/client-metadata.json"); n != 1 {
			t.Fatalf("%d fetches of the document for two logins and a refresh within max-age, want 1", n)
		}
	})
}

// §4.4: a changed document takes effect once its max-age has passed, and the stored
// client follows it.
func TestFlow_DocumentChangePickedUpAfterMaxAge(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		id := docs.url("/client.json")
		docs.serve("/client.json", flowDoc(id, "Name v1"), "max-age=1")
		s := newStack(t, store, docs, &cimd.Options{})

		s.login(t, id)
		docs.serve("/client.json", flowDoc(id, "Name v2"), "max-age=1")
		s.login(t, id)
		if name := s.lastView().ClientName; name != "Name v1" {
			t.Fatalf("within max-age the consent view shows %q, want the cached Name v1", name)
		}
		time.Sleep(1100 * time.Millisecond)
		s.login(t, id)
		if name := s.lastView().ClientName; name != "Name v2" {
			t.Fatalf("after max-age the consent view shows %q, want Name v2", name)
		}
		stored, err := store.LoadClient(t.Context(), id)
		if err != nil || stored.Name != "Name v2" {
			t.Fatalf("stored client %+v %v", stored, err)
		}
		if n := docs.count("/client.json"); n != 2 {
			t.Fatalf("%d fetches, want 2", n)
		}
	})
}

// A redirect URI the document does not list is refused without a redirect, like for
// any client; loopback redirect URIs match on any port (RFC 8252 §7.3).
func TestFlow_RedirectURIsComeFromTheDocument(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		id := docs.url("/client.json")
		docs.serve("/client.json", flowDoc(id, "Client"), "")
		s := newStack(t, store, docs, &cimd.Options{})
		q := url.Values{
			"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1:8765/other"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
			"state": {"state-1234"}, "resource": {s.resource}, "scope": {flowScope},
		}
		resp, err := browser.Get(s.issuer + provider.AuthorizePath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("unlisted redirect URI: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q.Set("redirect_uri", "http://127.0.0.1:50999/callback")
		resp, err = browser.Get(s.issuer + provider.AuthorizePath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "http://127.0.0.1:50999/callback?") || !strings.Contains(loc, "code=") {
			t.Fatalf("loopback redirect on another port: %d Location %q", resp.StatusCode, loc)
		}
	})
}

// draft-00 §4.3: a document that cannot be fetched or is invalid aborts the request: at
// the authorization endpoint an error page naming invalid_client and the reason (never a
// redirect, the redirect URI is unverified); at the token endpoint invalid_client. The
// conformance suite's REG-CIMD-ENFORCED URLs (.invalid host, plain http) are refused too.
func TestFlow_FailedDocumentAbortsRequest(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		wrongID := docs.url("/wrong.json")
		docs.serve("/wrong.json", flowDoc(docs.url("/other.json"), "Impostor"), "")
		s := newStack(t, store, docs, &cimd.Options{Timeout: 2 * time.Second})
		for _, c := range []struct{ id, reason string }{
			{docs.url("/missing.json"), "status 404"},
			{wrongID, "client_id is not the URL"},
			{docs.url("/a/../client.json"), "dot segments"},
			{"https://conformance.invalid/client-metadata.json", "could not be fetched"},
			{"http://conformance.invalid/client-metadata.json", "invalid_client"},
		} {
			resp := s.authorize(t, c.id, oauth2.GenerateVerifier())
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%s: %d Location %q, want an error page", c.id, resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(string(body), "invalid_client") || !strings.Contains(string(body), c.reason) {
				t.Errorf("%s: error page does not say invalid_client and %q:\n%s", c.id, c.reason, body)
			}
		}
		status, tok := s.token(t, url.Values{
			"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {oauth2.GenerateVerifier()},
			"redirect_uri": {flowRedirect}, "client_id": {docs.url("/missing.json")},
		})
		if status != http.StatusUnauthorized || tok.Error != "invalid_client" || !strings.Contains(tok.Description, "status 404") {
			t.Fatalf("token endpoint: %d %+v", status, tok)
		}
		if _, err := store.LoadClient(t.Context(), wrongID); err == nil {
			t.Fatal("a client was stored from an invalid document")
		}
	})
}

// Off by default: no flag in the metadata, and a URL client ID is an unknown client.
// Turning it off later refuses the metadata-document clients stored meanwhile.
func TestFlow_OffByDefault(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		id := docs.url("/client.json")
		docs.serve("/client.json", flowDoc(id, "Client"), "")
		on := newStack(t, store, docs, &cimd.Options{})
		on.login(t, id)

		off := newStack(t, store, docs, nil)
		if flag := off.metadataFlag(t); flag != nil {
			t.Fatalf("client_id_metadata_document_supported = %v without the option", flag)
		}
		if off.auth.ClientIDMetadataDocuments() != nil {
			t.Fatal("a resolver exists without the option")
		}
		resp := off.authorize(t, id, oauth2.GenerateVerifier())
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "invalid_client") {
			t.Fatalf("URL client ID with the option off: %d Location %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if n := docs.count("/client.json"); n != 1 {
			t.Fatalf("the server with the option off fetched the document (%d fetches)", n)
		}
	})
}

// Concurrent logins of a client nobody has seen yet: one fetch, one stored client,
// every login succeeds.
func TestFlow_ConcurrentFirstLogins(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		id := docs.url("/client.json")
		body, _ := json.Marshal(flowDoc(id, "Client"))
		docs.handle("/client.json", func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(200 * time.Millisecond) // let the logins pile up on the fetch
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
		s := newStack(t, store, docs, &cimd.Options{})
		const n = 6
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- loginErr(s, id)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if c := docs.count("/client.json"); c != 1 {
			t.Fatalf("%d fetches for %d concurrent first logins, want 1", c, n)
		}
	})
}

// loginErr is login for goroutines: it returns an error instead of failing the test.
func loginErr(s *stack, clientID string) error {
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {flowRedirect}, "scope": {flowScope},
		"state": {"state-1234"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "resource": {s.resource},
	}
	resp, err := browser.Get(s.issuer + provider.AuthorizePath + "?" + q.Encode())
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("authorize: %d", resp.StatusCode)
	}
	code := loc.Query().Get("code")
	if code == "" {
		return errors.New("authorize: " + loc.String())
	}
	tr, err := http.PostForm(s.issuer+provider.TokenPath, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {flowRedirect}, "client_id": {clientID},
	})
	if err != nil {
		return err
	}
	tr.Body.Close()
	if tr.StatusCode != http.StatusOK {
		return fmt.Errorf("token: %d", tr.StatusCode)
	}
	return nil
}
