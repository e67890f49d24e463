package cimd_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// clientIDCases are client ID URLs with whether draft-ietf-oauth-client-id-metadata-document-00
// §3 (and this server's canonical-form rule) accepts them.
var clientIDCases = []struct {
	name  string
	raw   string
	valid bool
}{
	{"§3 example", "https://app.example.com/oauth/client-metadata.json", true},
	{"port allowed", "https://app.example.com:8443/client", true},
	{"IPv4 literal", "https://203.0.114.7/client", true},
	{"IPv6 literal", "https://[2001:4860::1]/client", true},
	{"percent-encoded path", "https://app.example.com/a%20b/client", true},
	{"empty segment", "https://app.example.com//client", true},
	{"dots inside a segment", "https://app.example.com/.well-known/..client.json", true},
	{"trailing slash", "https://app.example.com/client/", true},

	{"empty", "", false},
	{"http", "http://app.example.com/client", false},
	{"uppercase scheme", "HTTPS://app.example.com/client", false},
	{"no scheme", "app.example.com/client", false},
	{"custom scheme", "com.example.app:/client", false},
	{"no path", "https://app.example.com", false},
	{"root path", "https://app.example.com/", false},
	{"fragment", "https://app.example.com/client#x", false},
	{"empty fragment", "https://app.example.com/client#", false},
	{"query", "https://app.example.com/client?v=1", false},
	{"empty query", "https://app.example.com/client?", false},
	{"userinfo", "https://user@app.example.com/client", false},
	{"user and password", "https://user:pw@app.example.com/client", false},
	{"single-dot segment", "https://app.example.com/./client", false},
	{"double-dot segment", "https://app.example.com/a/../client", false},
	{"trailing dot segment", "https://app.example.com/client/.", false},
	{"trailing double-dot segment", "https://app.example.com/client/..", false},
	{"encoded dot segment", "https://app.example.com/a/%2e%2e/client", false},
	{"encoded dot segment uppercase", "https://app.example.com/a/%2E/client", false},
	{"mixed encoded dot segment", "https://app.example.com/a/.%2e/client", false},
	{"encoded slash", "https://app.example.com/a%2F..%2Fclient", false},
	{"encoded backslash", "https://app.example.com/a%5cclient", false},
	{"uppercase host", "https://App.Example.com/client", false},
	{"default port", "https://app.example.com:443/client", false},
	{"empty port", "https://app.example.com:/client", false},
	{"port zero", "https://app.example.com:0/client", false},
	{"port leading zero", "https://app.example.com:0443/client", false},
	{"port too large", "https://app.example.com:65536/client", false},
	{"trailing dot host", "https://app.example.com./client", false},
	{"no host", "https:///client", false},
	{"underscore host", "https://app_x.example.com/client", false},
	{"space", "https://app.example.com/a client", false},
	{"backslash", "https://app.example.com\\@evil.example/client", false},
	{"tab", "https://app.example.com/cl\tient", false},
	{"non-ASCII", "https://app.example.com/clïent", false},
	{"IDN host", "https://exämple.com/client", false},
	{"bad percent", "https://app.example.com/%zz", false},
	{"non-canonical IPv6", "https://[2001:4860:0:0::1]/client", false},
	{"zoned IPv6", "https://[fe80::1%25eth0]/client", false},
	{"IPv4 in brackets", "https://[1.2.3.4]/client", false},
	{"too long", "https://app.example.com/" + strings.Repeat("a", cimd.MaxClientIDLength), false},
}

// draft-ietf-oauth-client-id-metadata-document-00 §3: the client identifier URL rules.
func TestValidateClientIDURL_Section3(t *testing.T) {
	for _, c := range clientIDCases {
		t.Run(c.name, func(t *testing.T) {
			err := cimd.ValidateClientIDURL(c.raw)
			if (err == nil) != c.valid {
				t.Fatalf("ValidateClientIDURL(%q) = %v, want valid=%v", c.raw, err, c.valid)
			}
		})
	}
}

// FuzzValidateClientIDURL: whatever is accepted is an https URL with a host and a
// non-root path, without query, fragment, user information or dot segments, in
// canonical form (it is its own serialisation); nothing panics.
func FuzzValidateClientIDURL(f *testing.F) {
	for _, c := range clientIDCases {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if cimd.ValidateClientIDURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, err)
		}
		if u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
			u.Fragment != "" || strings.ContainsAny(raw, "?#\\ ") || strings.Contains(u.Host, "@") ||
			u.Path == "" || u.Path == "/" {
			t.Fatalf("accepted %q: %#v", raw, u)
		}
		if u.String() != raw {
			t.Fatalf("accepted %q, not canonical: serialises as %q", raw, u.String())
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q with a dot segment", raw)
			}
		}
		if u.Hostname() != strings.ToLower(u.Hostname()) || u.Port() == "443" {
			t.Fatalf("accepted %q with a non-canonical host", raw)
		}
	})
}

// FuzzParseDocument: a client ID metadata document is what an attacker's server sends;
// whatever body arrives, parsing never panics, and a document it accepts names exactly the
// URL it was fetched from, has at least one redirect URI, every one of them a valid
// redirect URI, and no secret.
func FuzzParseDocument(f *testing.F) {
	const id = "https://app.example.com/oauth/client.json"
	accepted := []string{
		`{"client_id":"` + id + `","client_name":"App","redirect_uris":["http://127.0.0.1/cb","https://app.example.com/cb"]}`,
		`{"client_id":"` + id + `","client_name":"App","redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`,
	}
	// Every seed in accepted parses, so the property below is exercised, not only skipped.
	for _, body := range accepted {
		if _, err := cimd.ParseDocument(id, []byte(body), nil); err != nil {
			f.Fatalf("a seed document is refused: %v", err)
		}
	}
	for _, body := range append(accepted,
		`{"client_id":"`+id+`","redirect_uris":["javascript:alert(1)"]}`,
		`{"client_id":"https://other.example/c.json","redirect_uris":["https://app.example.com/cb"]}`,
		`{"client_id":"`+id+`","redirect_uris":["https://app.example.com/cb"],"client_secret":"s"}`,
		`{"client_id":"`+id+`","redirect_uris":[]}`, `[]`, `null`, `{"client_id":1}`, ``,
	) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c, err := cimd.ParseDocument(id, []byte(body), nil)
		if err != nil {
			return
		}
		if c.ID != id || len(c.RedirectURIs) == 0 || len(c.SecretHash) != 0 {
			t.Fatalf("accepted %q as client %q with redirect URIs %q", body, c.ID, c.RedirectURIs)
		}
		for _, u := range c.RedirectURIs {
			if err := provider.ValidateRedirectURI(u); err != nil {
				t.Fatalf("accepted %q with redirect URI %q: %v", body, u, err)
			}
		}
	})
}
