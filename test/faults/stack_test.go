package faults_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// The replicas stand behind one public origin (a TLS proxy): one issuer, one resource.
const (
	issuer      = "https://as.example.test"
	resourceURL = issuer + "/mcp"
	scope       = "files:read"
	redirectURI = "http://127.0.0.1:53682/callback"
)

// replica is one in-process server (teststack's full server: OAuth endpoints,
// registration, bearer middleware on /mcp, /readyz) on its own loopback listener and its
// own Store (connection pool), as a separate process would have.
type replica struct {
	// Base is where requests go (http://127.0.0.1:PORT); the issuer is the shared one.
	Base string
	Auth *mcp.Server
}

// newReplica starts a replica on store with the compatibility shims opts (nil:
// compat.Default()); edit, when not nil, changes the configuration further.
func newReplica(t *testing.T, store *gormstore.Store, opts *compat.Options, edit ...func(*mcp.Config)) *replica {
	t.Helper()
	st := teststack.Start(t, teststack.Options{
		Store:      store,
		Issuer:     issuer,
		Subject:    "alice",
		Resources:  []resourceserver.Resource{{URL: resourceURL, Name: "Files", Scopes: []string{scope}}},
		Compat:     opts,
		RateLimits: &mcp.RateLimits{Disabled: true},
		MCP: func(_ *teststack.Stack, cfg *mcp.Config) {
			for _, e := range edit {
				e(cfg)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, _ := resourceserver.TokenFromContext(r.Context())
			_ = json.NewEncoder(w).Encode(map[string]string{"sub": tok.Subject})
		}),
	})
	st.Mux.Handle("/readyz", st.Server.ReadinessHandler())
	return &replica{Base: st.Base, Auth: st.Server}
}

// reply is what a client saw: status, headers, the OAuth error code and the tokens.
type reply struct {
	Op         string
	Status     int
	RetryAfter string
	Location   string
	Error      string // "error" of a JSON body, or "temporarily_unavailable" found in a page
	Body       string
	Err        error // transport error (a panic in the server closes the connection)

	AccessToken, RefreshToken, ClientID string
}

func (r reply) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s: transport error %v", r.Op, r.Err)
	}
	return fmt.Sprintf("%s: %d error=%q retry-after=%q body=%.200q", r.Op, r.Status, r.Error, r.RetryAfter, r.Body)
}

// unavailable reports whether r is the answer to a storage outage: 503 with Retry-After
// and temporarily_unavailable.
func (r reply) unavailable() bool {
	return r.Err == nil && r.Status == http.StatusServiceUnavailable && r.RetryAfter != "" &&
		r.Error == "temporarily_unavailable"
}

// ok reports whether r is a success (2xx, or the authorization endpoint's redirect with a code).
func (r reply) ok() bool {
	if r.Err != nil {
		return false
	}
	if r.Status == http.StatusSeeOther {
		u, err := url.Parse(r.Location)
		return err == nil && u.Query().Get("code") != ""
	}
	return r.Status >= 200 && r.Status < 300
}

// client speaks HTTP to the replicas (or the demo), never following redirects.
type client struct {
	http     *http.Client
	resource string // the resource parameter and audience
}

func newClient(resource string) *client {
	return &client{
		http: &http.Client{
			Timeout:       20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		resource: resource,
	}
}

func (c *client) do(op string, req *http.Request) reply {
	r := reply{Op: op}
	resp, err := c.http.Do(req)
	if err != nil {
		r.Err = err
		return r
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	r.Status, r.Body = resp.StatusCode, string(body)
	r.RetryAfter, r.Location = resp.Header.Get("Retry-After"), resp.Header.Get("Location")
	var m struct {
		Error        string `json:"error"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ClientID     string `json:"client_id"`
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(body, &m) == nil {
		r.Error, r.AccessToken, r.RefreshToken, r.ClientID = m.Error, m.AccessToken, m.RefreshToken, m.ClientID
	} else if strings.Contains(r.Body, "temporarily_unavailable") {
		r.Error = "temporarily_unavailable"
	}
	return r
}

// register registers a public client through RFC 7591 at base.
func (c *client) register(base string) reply {
	body, _ := json.Marshal(map[string]any{
		"client_name": "faults test", "redirect_uris": []string{redirectURI}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/register", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	return c.do("register", req)
}

// authorize sends a browser to the authorization endpoint at base (auto-approved) and
// returns the reply and the PKCE verifier; the code is in reply.Location.
func (c *client) authorize(base, clientID string) (reply, string) {
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI}, "scope": {scope},
		"state": {rand.Text()}, "resource": {c.resource},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/authorize?"+q.Encode(), nil)
	req.Header.Set("Accept", "text/html")
	return c.do("authorize", req), verifier
}

// exchange redeems the code of an authorize reply at base.
func (c *client) exchange(base, clientID string, auth reply, verifier string) reply {
	u, _ := url.Parse(auth.Location)
	return c.post("token(code)", base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {redirectURI}, "client_id": {clientID}, "resource": {c.resource}})
}

// refresh uses a refresh token at base.
func (c *client) refresh(base, clientID, refreshToken string) reply {
	return c.post("token(refresh)", base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"client_id": {clientID}, "resource": {c.resource}})
}

// revoke revokes a token of a public client at base (RFC 7009).
func (c *client) revoke(base, clientID, token string) reply {
	return c.post("revoke", base+"/revoke", url.Values{"token": {token}, "client_id": {clientID}})
}

// introspect asks about token at base as a confidential client (RFC 7662).
func (c *client) introspect(base, clientID, secret, token string) reply {
	req, _ := http.NewRequest(http.MethodPost, base+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	return c.do("introspect", req)
}

// call presents an access token to the MCP endpoint at mcpURL.
func (c *client) call(mcpURL, accessToken string) reply {
	req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	return c.do("mcp", req)
}

func (c *client) post(op, endpoint string, form url.Values) reply {
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(op, req)
}

// grant is a client's login: its client ID and latest tokens.
type grant struct {
	ClientID, AccessToken, RefreshToken string
}

// login registers a client at reg, authorizes at authz and redeems the code at tok,
// failing t on any error.
func (c *client) login(t *testing.T, reg, authz, tok string) grant {
	t.Helper()
	r := c.register(reg)
	if r.Status != http.StatusCreated || r.ClientID == "" {
		t.Fatalf("%v", r)
	}
	a, verifier := c.authorize(authz, r.ClientID)
	if !a.ok() {
		t.Fatalf("%v", a)
	}
	x := c.exchange(tok, r.ClientID, a, verifier)
	if !x.ok() || x.AccessToken == "" || x.RefreshToken == "" {
		t.Fatalf("%v", x)
	}
	return grant{ClientID: r.ClientID, AccessToken: x.AccessToken, RefreshToken: x.RefreshToken}
}

// checkOutageReply fails t unless r is a success or a 503 temporarily_unavailable with
// Retry-After: never a credential error, another 4xx or 5xx, or a dropped connection.
func checkOutageReply(t *testing.T, r reply) {
	t.Helper()
	if !r.ok() && !r.unavailable() {
		t.Errorf("during the outage: %v; want a success or 503 temporarily_unavailable with Retry-After", r)
	}
}

// storeOptions are the options every replica's Store shares (one encryption key).
func storeOptions() gormstore.Options {
	return gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: "k1", Secret: []byte("faults-test-encryption-key-32byt")}},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}
