package mcp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/ratelimit"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

func withDeviceGrant(c *mcp.Config) {
	c.Provider.DeviceAuthorization = &provider.DeviceAuthorizationOptions{}
}

// register registers a public client over RFC 7591 with grant_types and returns its
// client_id, or the error code.
func register(t *testing.T, base string, grantTypes []string) (clientID, errCode string) {
	t.Helper()
	meta := map[string]any{"client_name": "Terminal", "token_endpoint_auth_method": "none", "grant_types": grantTypes}
	if grantTypes == nil { // the default grants include authorization_code
		meta["redirect_uris"] = []string{"http://localhost/cb"}
	}
	body, _ := json.Marshal(meta)
	resp, err := http.Post(base+"/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ClientID string `json:"client_id"`
		Error    string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.ClientID, out.Error
}

func postJSON(t *testing.T, u string, form url.Values, v any) int {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %q: %v", u, b, err)
	}
	return resp.StatusCode
}

// A client registered with the device grant (RFC 7591 + RFC 8628) that sends neither
// scope nor resource gets what the code flow would give it under compat.Default: the
// resource's default scopes and a token bound to the MCP server, accepted by Protect.
// With JWT access tokens (RFC 9068) the device grant's token is a JWT the MCP endpoint
// verifies locally.
func TestRFC8628_RegisteredClientGetsResourceBoundToken(t *testing.T) {
	for _, jwt := range []bool{false, true} {
		t.Run(map[bool]string{false: "opaque", true: "jwt"}[jwt], func(t *testing.T) { deviceTokenAtMCP(t, jwt) })
	}
}

func deviceTokenAtMCP(t *testing.T, jwt bool) {
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		_, base, auth := newServer(t, store, withDeviceGrant, func(c *mcp.Config) {
			c.RateLimits = &mcp.RateLimits{Disabled: true}
			if jwt {
				c.JWTAccessTokens = &mcp.JWTAccessTokens{Enabled: true}
			}
		})
		m := auth.Provider().Metadata()
		if m.DeviceAuthorizationEndpoint != base+"/device_authorization" {
			t.Fatalf("device_authorization_endpoint = %q", m.DeviceAuthorizationEndpoint)
		}
		plain, errCode := register(t, base, nil)
		if plain == "" {
			t.Fatalf("registration: %s", errCode)
		}
		var e struct {
			Error string `json:"error"`
		}
		if st := postJSON(t, base+"/device_authorization", url.Values{"client_id": {plain}}, &e); st != http.StatusBadRequest || e.Error != "unauthorized_client" {
			t.Errorf("client registered without the device grant: %d %q, want unauthorized_client (opt-in per client)", st, e.Error)
		}
		id, errCode2 := register(t, base, []string{provider.GrantTypeDeviceCode, "refresh_token"})
		if id == "" {
			t.Fatalf("registration with the device grant refused: %s", errCode2)
		}
		var d struct {
			DeviceCode string `json:"device_code"`
			UserCode   string `json:"user_code"`
		}
		if st := postJSON(t, base+"/device_authorization", url.Values{"client_id": {id}}, &d); st != http.StatusOK {
			t.Fatalf("device authorization: %d", st)
		}
		req, err := auth.Provider().DeviceRequest(t.Context(), d.UserCode)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(req.Scopes, " ") != "tools" || len(req.Resources) != 1 || req.Resources[0] != base+"/mcp" {
			t.Errorf("device request scopes %v resources %v: want the default scope tools and the MCP server", req.Scopes, req.Resources)
		}
		if err := auth.Provider().ApproveDevice(t.Context(), d.UserCode, "alice", req.Scopes); err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			Error       string `json:"error"`
		}
		if st := postJSON(t, base+"/token", url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "device_code": {d.DeviceCode}, "client_id": {id}}, &tok); st != http.StatusOK {
			t.Fatalf("poll: %d %q", st, tok.Error)
		}
		r, _ := http.NewRequest(http.MethodGet, base+"/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var at provider.AccessToken
		_ = json.NewDecoder(resp.Body).Decode(&at)
		if resp.StatusCode != http.StatusOK || at.Subject != "alice" || at.ClientID != id {
			t.Errorf("MCP call with the device token: %d %+v", resp.StatusCode, at)
		}
		if isJWT := strings.Count(tok.AccessToken, ".") == 2 && strings.HasPrefix(tok.AccessToken, "ey"); isJWT != jwt {
			t.Errorf("access token is a JWT: %v, want %v", isJWT, jwt)
		}
	})
}

// Without the device grant on the server, registering it is refused.
func TestRFC8628_RegistrationRefusedWhenGrantOff(t *testing.T) {
	_, base, _ := newServer(t, gormtest.Open(t, gormtest.SQLite))
	if id, errCode := register(t, base, []string{provider.GrantTypeDeviceCode}); id != "" || errCode != "invalid_client_metadata" {
		t.Errorf("registration: %q %q, want invalid_client_metadata", id, errCode)
	}
}

// RFC 8628 §5.1: user code entries on the verification page are limited per address
// before the code is looked up; showing the page is not an entry.
func TestRFC8628_5_1_UserCodeEntriesRateLimited(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	clock := newTestClock()
	_, base, _ := newServer(t, store, withDeviceGrant, func(c *mcp.Config) {
		c.RateLimits = &mcp.RateLimits{UserCode: ratelimit.PerMinute(2, 2), Now: clock.Now}
	})
	for range 5 {
		if resp := send(t, base, rlRequest{method: http.MethodGet, path: "/device"}, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /device: %d", resp.StatusCode)
		}
	}
	entry := rlRequest{method: http.MethodPost, path: "/device", form: url.Values{"user_code": {"BCDF-GHJK"}, "action": {"lookup"}}}
	for i := range 2 {
		if resp := send(t, base, entry, nil); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("entry %d refused within the burst", i+1)
		}
	}
	resp := send(t, base, entry, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third entry: %d, want 429 with Retry-After", resp.StatusCode)
	}
	clock.Advance(30 * 1e9)
	if resp := send(t, base, entry, nil); resp.StatusCode == http.StatusTooManyRequests {
		t.Error("entry still refused after the bucket refilled one")
	}
}
