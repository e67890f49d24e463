package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// docResolver is a provider.ClientResolver serving clients from a map, as a client ID
// metadata document resolver would from the web (mcp/cimd is the real one; its tests
// run this hook over HTTPS).
type docResolver struct {
	mu      sync.Mutex
	clients map[string]*provider.Client
	errs    map[string]error
	calls   map[string]int
}

func newDocResolver() *docResolver {
	return &docResolver{clients: map[string]*provider.Client{}, errs: map[string]error{}, calls: map[string]int{}}
}

func (r *docResolver) Resolves(id string) bool { return strings.HasPrefix(id, "https://") }

func (r *docResolver) ResolveClient(_ context.Context, id string) (*provider.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id]++
	if err := r.errs[id]; err != nil {
		return nil, err
	}
	c, ok := r.clients[id]
	if !ok {
		return nil, errors.New("no document at this URL")
	}
	cp := *c
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	cp.GrantTypes = slices.Clone(c.GrantTypes)
	cp.Scopes = slices.Clone(c.Scopes)
	if cp.UpdatedAt.IsZero() {
		cp.UpdatedAt = time.Now().UTC()
	}
	return &cp, nil
}

func (r *docResolver) set(c *provider.Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clients[c.ID] = c
}

func (r *docResolver) callsFor(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

const docClientID = "https://client.example.com/oauth/metadata.json"

// docClient is what a resolver returns for docClientID: only what a document says.
func docClient() *provider.Client {
	return &provider.Client{
		ID: docClientID, Name: "Doc Client", RedirectURIs: []string{loopbackCB},
		GrantTypes: []string{"authorization_code", "refresh_token"},
	}
}

func withResolver(r provider.ClientResolver) envOption {
	return func(_ *env, cfg *provider.Config) { cfg.ClientResolver = r }
}

// useDocClient makes e's public-client helpers (authorize, exchange, refresh) act as the
// document client.
func (e *env) useDocClient() {
	pc := *e.public
	pc.ID = docClientID
	e.public = &pc
}

// A resolved client is stored (Source metadata_document, public, the server's scopes)
// before anything references it, and the whole code flow works with the URL client ID:
// the token's client_id is the URL.
func TestClientResolver_ResolvedClientIsStoredAndUsable(t *testing.T) {
	r := newDocResolver()
	r.set(docClient())
	var seen *provider.AuthorizationRequest
	runEnv(t, func(t *testing.T, e *env) {
		e.useDocClient()
		tok := e.tokens(nil)
		if in := e.introspect(tok.AccessToken); !in.Active || in.ClientID != docClientID {
			t.Fatalf("introspection %+v, want active with client_id %s", in, docClientID)
		}
		stored, err := e.store.LoadClient(context.Background(), docClientID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Source != provider.ClientSourceMetadataDocument || !stored.Public ||
			stored.TokenEndpointAuthMethod != provider.AuthMethodNone || stored.Name != "Doc Client" ||
			!slices.Equal(stored.Scopes, []string{"read", "write"}) || !slices.Equal(stored.ResponseTypes, []string{"code"}) ||
			stored.ApplicationType != "native" {
			t.Fatalf("stored client %+v", stored)
		}
		if seen == nil || seen.ClientIDHost != "client.example.com" || seen.ClientName != "Doc Client" {
			t.Fatalf("AutoApprove saw %+v, want ClientIDHost client.example.com", seen)
		}
		// Refresh (client authentication by client_id) resolves again and works.
		resp, rt := e.refresh(tok.RefreshToken, nil)
		if resp.StatusCode != http.StatusOK || rt.AccessToken == "" {
			t.Fatalf("refresh: %d %+v", resp.StatusCode, rt)
		}
	}, withResolver(r), func(_ *env, cfg *provider.Config) {
		cfg.AutoApprove = func(_ context.Context, req *provider.AuthorizationRequest) (string, bool) {
			seen = req
			return testSubject, true
		}
	})
}

// The stored row follows the document: changed metadata is written back (creation time
// kept); metadata older than the row (a stale cache on another replica) is not.
func TestClientResolver_RowFollowsDocument(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		r := newDocResolver()
		r.set(docClient())
		e := newEnv(t, s, withResolver(r))
		e.useDocClient()
		e.tokens(nil)
		ctx := context.Background()
		first, err := s.LoadClient(ctx, docClientID)
		if err != nil {
			t.Fatal(err)
		}

		changed := docClient()
		changed.Name = "Doc Client v2"
		changed.Scopes = []string{"read", "unknown-scope"}
		changed.UpdatedAt = time.Now().Add(time.Second).UTC()
		r.set(changed)
		e.tokens(nil)
		second, err := s.LoadClient(ctx, docClientID)
		if err != nil {
			t.Fatal(err)
		}
		if second.Name != "Doc Client v2" || !slices.Equal(second.Scopes, []string{"read"}) || !second.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("after the document changed: %+v (created %v, first %v)", second, second.CreatedAt, first.CreatedAt)
		}

		stale := docClient()
		stale.Name = "Stale cached name"
		stale.UpdatedAt = second.UpdatedAt.Add(-time.Hour)
		r.set(stale)
		e.tokens(nil)
		third, err := s.LoadClient(ctx, docClientID)
		if err != nil {
			t.Fatal(err)
		}
		if third.Name != "Doc Client v2" {
			t.Fatalf("older metadata overwrote the row: name %q", third.Name)
		}
	})
}

// A client the operator registered under a URL client ID is used as stored; the
// resolver is not asked.
func TestClientResolver_StoredClientWins(t *testing.T) {
	const id = "https://static.example.com/client"
	r := newDocResolver()
	runEnv(t, func(t *testing.T, e *env) {
		if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{
			ID: id, Name: "Static", Public: true, RedirectURIs: []string{loopbackCB},
		}); err != nil {
			t.Fatal(err)
		}
		e.public.ID = id
		e.tokens(nil)
		if n := r.callsFor(id); n != 0 {
			t.Fatalf("the resolver was asked %d times for a stored static client", n)
		}
	}, withResolver(r))
}

// draft-ietf-oauth-client-id-metadata-document-00 §4.3: a failed resolution aborts the
// request. At the authorization endpoint that is an error page (the redirect URI is
// unverified: never a redirect) with invalid_client and the reason; at the token
// endpoint invalid_client.
func TestClientResolver_FailureAbortsRequest(t *testing.T) {
	r := newDocResolver()
	r.errs[docClientID] = errors.New("the client ID metadata document URL answered with status 404")
	runEnv(t, func(t *testing.T, e *env) {
		e.useDocClient()
		q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
		resp := e.get(e.issuer + "/authorize?" + q.Encode())
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("authorize: status %d, Location %q; want an error page", resp.StatusCode, resp.Header.Get("Location"))
		}
		if !strings.Contains(string(body), "invalid_client") || !strings.Contains(string(body), "status 404") {
			t.Fatalf("error page does not name invalid_client and the reason: %s", body)
		}
		if _, err := e.store.LoadClient(context.Background(), docClientID); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("a client was stored for a failed resolution: %v", err)
		}

		resp, tok := e.exchange("some-code", "some-verifier-some-verifier-some-verifier-0123", "http://localhost:50123/callback", nil)
		if resp.StatusCode != http.StatusUnauthorized || tok.Error != "invalid_client" || !strings.Contains(tok.Description, "status 404") {
			t.Fatalf("token: %d %+v, want 401 invalid_client with the reason", resp.StatusCode, tok)
		}
	}, withResolver(r))
}

// What the provider refuses from a resolver whatever it returns: a client with a shared
// secret, grants other than authorization_code/refresh_token, no redirect URIs, an
// invalid redirect URI, another client ID, and private_key_jwt keys by reference
// (jwks_uri) when the provider does not fetch client keys (no Config.ClientKeys).
func TestClientResolver_ProviderChecksResolvedClient(t *testing.T) {
	cases := map[string]func(c *provider.Client){
		"confidential":        func(c *provider.Client) { c.TokenEndpointAuthMethod = provider.AuthMethodClientSecretBasic },
		"secret hash":         func(c *provider.Client) { c.SecretHash = []byte("sha256$x") },
		"client credentials":  func(c *provider.Client) { c.GrantTypes = []string{"client_credentials"} },
		"refresh only":        func(c *provider.Client) { c.GrantTypes = []string{"refresh_token"} },
		"no redirect URIs":    func(c *provider.Client) { c.RedirectURIs = nil },
		"http redirect":       func(c *provider.Client) { c.RedirectURIs = []string{"http://evil.example.com/cb"} },
		"token response type": func(c *provider.Client) { c.ResponseTypes = []string{"token"} },
		"other client ID":     func(c *provider.Client) { c.ID = "https://other.example.com/doc" },
		"jwks_uri without Config.ClientKeys": func(c *provider.Client) {
			c.Public, c.TokenEndpointAuthMethod, c.JWKSURI = false, provider.AuthMethodPrivateKeyJWT, "https://app.example.com/jwks"
		},
	}
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		r := newDocResolver()
		e := newEnv(t, s, withResolver(r))
		e.useDocClient()
		for name, edit := range cases {
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				c := docClient()
				edit(c)
				r.mu.Lock()
				r.clients[docClientID] = c
				r.mu.Unlock()
				q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
				resp := e.get(e.issuer + "/authorize?" + q.Encode())
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "invalid_client") {
					t.Fatalf("status %d, Location %q, body %s", resp.StatusCode, resp.Header.Get("Location"), body)
				}
			})
		}
		if _, err := s.LoadClient(context.Background(), docClientID); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("a refused client was stored: %v", err)
		}
	})
}

// With client ID metadata documents turned off (no resolver), a stored
// metadata-document client is refused: its metadata can no longer be checked.
func TestClientResolver_StoredDocumentClientRefusedWithoutResolver(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		c := docClient()
		c.Public, c.TokenEndpointAuthMethod, c.ResponseTypes = true, provider.AuthMethodNone, []string{"code"}
		c.Scopes, c.Source = []string{"read"}, provider.ClientSourceMetadataDocument
		if err := e.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		e.useDocClient()
		q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
		resp := e.get(e.issuer + "/authorize?" + q.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("status %d, Location %q; want an error page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// Concurrent first logins of one document client: every one succeeds, one row exists.
func TestClientResolver_ConcurrentFirstUse(t *testing.T) {
	r := newDocResolver()
	r.set(docClient())
	runEnv(t, func(t *testing.T, e *env) {
		e.useDocClient()
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
				resp, err := e.http.Get(e.issuer + "/authorize?" + q.Encode())
				if err != nil {
					errs <- err.Error()
					return
				}
				defer resp.Body.Close()
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
					body, _ := io.ReadAll(resp.Body)
					errs <- resp.Status + " " + resp.Header.Get("Location") + " " + string(body)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if _, err := e.store.LoadClient(context.Background(), docClientID); err != nil {
			t.Fatal(err)
		}
	}, withResolver(r))
}

// The built-in consent page names the host that publishes a document client's
// metadata (the client ID's host) besides the redirect host.
func TestClientResolver_ConsentPageShowsClientIDHost(t *testing.T) {
	r := newDocResolver()
	r.set(docClient())
	runEnv(t, func(t *testing.T, e *env) {
		e.useDocClient()
		q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
		resp := e.get(e.issuer + "/authorize?" + q.Encode())
		body, _ := e.openLogin(location(t, resp).Query().Get(provider.LoginRequestParam), bindingCookie(t, resp))
		if !strings.Contains(body, "published by <strong>client.example.com</strong>") || !strings.Contains(body, "Doc Client") {
			t.Fatalf("consent page:\n%s", body)
		}
	}, withResolver(r), withLogin())
}

// RFC 7591 §2 for client ID metadata documents: a document is published once for every
// server, and MCP clients list grants some servers do not serve (the device grant, on a
// server without RFC 8628). Such grant types are ignored, not refused: the client logs in,
// and its stored grant types are the ones this server serves.
func TestClientResolver_UnsupportedGrantTypesIgnored(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		r := newDocResolver()
		c := docClient()
		c.GrantTypes = []string{"authorization_code", "refresh_token", provider.GrantTypeDeviceCode, "client_credentials"}
		r.set(c)
		e := newEnv(t, s, withResolver(r)) // no DeviceAuthorization
		e.useDocClient()
		tok := e.tokens(nil)
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("code flow with the document client: %+v", tok)
		}
		stored, err := s.LoadClient(e.ctx(), docClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(stored.GrantTypes, []string{"authorization_code", "refresh_token"}) {
			t.Errorf("stored grant types %v; want [authorization_code refresh_token]", stored.GrantTypes)
		}
	})
}
