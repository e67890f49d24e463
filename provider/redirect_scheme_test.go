package provider_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/ory/fosite"
)

// Issue 14 finding 1: any non-http(s) scheme used to count as a private-use redirect
// URI. RFC 8252 §7.1: private-use schemes are reversed domain names; a deny list keeps
// script, file, messaging and operating-system handler schemes out even when dotted or
// configured; "scheme:?query" has no path and is not a redirect URI.
func TestIssue14Finding1_RFC8252_7_1_PrivateUseSchemes(t *testing.T) {
	strict := provider.RedirectURIRules{}
	lenient := provider.RedirectURIRules{DotlessSchemes: append(provider.KnownDotlessClientSchemes(), "javascript", "search-ms")}
	for _, tc := range []struct {
		uri             string
		strict, lenient bool
	}{
		{"com.example.app:/oauth2redirect", true, true},
		{"com.example.app:/", true, true},
		{"com.example.app://callback", true, true},
		{"com.example.app://callback/path?x=1", true, true},
		{"io.modelcontextprotocol.inspector:/cb", true, true},
		{"cursor://anysphere.cursor-mcp/oauth/callback", false, true}, // Cursor: compat.Options.DotlessClientSchemes
		{"vscode://saoudrizwan.claude-dev/mcp-auth/callback", false, true},
		{"windsurf://codeium.windsurf/cb", false, true},

		// The finding's reproductions.
		{"search-ms:?query=x&crumb=location:\\\\attacker.example\\share", false, false},
		{"search-ms:/x", false, false},
		{"ms-appinstaller:?source=https://attacker.example/x.appx", false, false},
		{"ms-appinstaller:/x", false, false},
		{"x-safari-https://attacker.example/cb", false, false},
		{"ftp://attacker.example/cb", false, false},
		{"mailto:/x", false, false},
		// Dotted handlers and other deny-listed families.
		{"x-apple.systempreferences:/com.apple.preference", false, false},
		{"ie.http://attacker.example/cb", false, false},
		{"ms-settings.x:/y", false, false},
		{"javascript:/x", false, false},
		{"javascript://x/%0aalert(1)", false, false},
		{"data:/text", false, false},
		{"file:///etc/passwd", false, false},
		{"itms-services://?action=download-manifest&url=https://attacker.example/m.plist", false, false},
		{"intent://x/#Intent;scheme=https;end", false, false},
		// No path: not a redirect URI.
		{"com.example.app:?code=1", false, false},
		{"com.example.app:", false, false},
		{"com.example.app:cb", false, false},
		// Not a reversed domain.
		{"com..app:/cb", false, false},
		{"com.example.:/cb", false, false},
		{"myapp:/cb", false, false},
	} {
		if err := strict.Validate(tc.uri); (err == nil) != tc.strict {
			t.Errorf("strict %q: %v, want accepted=%v", tc.uri, err, tc.strict)
		}
		if err := provider.ValidateRedirectURI(tc.uri); (err == nil) != tc.strict {
			t.Errorf("ValidateRedirectURI(%q): %v, want accepted=%v", tc.uri, err, tc.strict)
		}
		if err := lenient.Validate(tc.uri); (err == nil) != tc.lenient {
			t.Errorf("with DotlessSchemes %q: %v, want accepted=%v", tc.uri, err, tc.lenient)
		}
	}
}

// Issue 14 findings 5 and 10: a redirect URI is printable ASCII (an IRI's host reads as
// another one: https://аррӏе.com is not apple.com), its host is not percent-encoded
// (url.Parse decodes it), and its port is a port: 1 to 65535, digits, no leading zero.
func TestIssue14_RFC3986_RedirectURISyntax(t *testing.T) {
	for _, ok := range []string{
		"https://xn--80ak6aa92e.com/cb", "http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb", "http://[::1]:8080/cb",
		"http://127.0.0.1/cb", "https://app.example:8443/cb",
	} {
		if err := provider.ValidateRedirectURI(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"https://аррӏе.com/cb", "https://%D0%B0pple.com/cb", "https://a%70ple.com/cb", "https://apple.com/c\u202eb",
		"https://app.example/cb?x=é", "http://127.0.0.1:0/cb", "http://127.0.0.1:09999/cb", "http://127.0.0.1:65536/cb",
		"http://127.0.0.1:99999999999/cb", "http://127.0.0.1:/cb", "http://[::1]:/cb", "https://app.example:+443/cb",
		"https://app.example/cb|x", "https://app.example/{cb}", "http://[::1%25lo]:80/cb",
	} {
		if err := provider.ValidateRedirectURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Issue 14 finding 1 over HTTP: clients stored before the stricter rules (or written to
// storage directly) with the finding's redirect URIs get an error page, never a 303; a
// reverse-domain private-use scheme still gets the automatic error redirect (RFC 8252
// §7.1, where native apps listen); a configured dotless scheme (Cursor's) gets the
// error page with a link the user may follow, and a code after consent.
func TestIssue14Finding1_NoRedirectToDangerousSchemes(t *testing.T) {
	cursor := "cursor://anysphere.cursor-mcp/oauth/callback"
	runEnv(t, func(t *testing.T, e *env) {
		add := func(id, redirect string) {
			t.Helper()
			if err := e.store.CreateClient(e.ctx(), &provider.Client{ID: id, Public: true, Source: provider.ClientSourceDynamic,
				RedirectURIs: []string{redirect}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
				Scopes: []string{"read"}}); err != nil {
				t.Fatal(err)
			}
		}
		for i, redirect := range []string{
			"search-ms:?query=x&crumb=location:%5C%5Cattacker.example%5Cshare",
			"ms-appinstaller:?source=https://attacker.example/x.appx",
			"x-safari-https://attacker.example/cb",
			"ftp://attacker.example/cb",
			"mailto:/x",
			cursor, // the zero rules of this provider: dotless schemes refused
		} {
			id := "legacy-" + string(rune('a'+i))
			add(id, redirect)
			for name, extra := range map[string]url.Values{
				"error":   {"client_id": {id}, "code_challenge_method": {"plain"}},
				"success": {"client_id": {id}},
			} {
				q, _ := e.authorizeParams(redirect, extra)
				resp := e.get(e.issuer + "/authorize?" + q.Encode())
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || strings.Contains(string(body), "href=") {
					t.Errorf("%s %s: status %d Location %q; want an error page without a link", name, redirect, resp.StatusCode, resp.Header.Get("Location"))
				}
			}
		}
		add("native", "com.example.app:/cb")
		q, _ := e.authorizeParams("com.example.app:/cb", url.Values{"client_id": {"native"}, "code_challenge_method": {"plain"}})
		resp := e.get(e.issuer + "/authorize?" + q.Encode())
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "com.example.app:/cb?error=invalid_request") {
			t.Errorf("reverse-domain scheme: status %d Location %q; want the error redirect", resp.StatusCode, loc)
		}
	})

	t.Run("DotlessSchemes", func(t *testing.T) {
		runEnv(t, func(t *testing.T, e *env) {
			ctx := context.Background()
			c, _, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: "cursor", Public: true, RedirectURIs: []string{cursor}})
			if err != nil {
				t.Fatal(err)
			}
			// Static clients are trusted: register it dynamically (as Cursor does) through storage.
			c.ID, c.Source = "cursor-dcr", provider.ClientSourceDynamic
			if err := e.store.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			q, _ := e.authorizeParams(cursor, url.Values{"client_id": {c.ID}, "code_challenge_method": {"plain"}})
			resp := e.get(e.issuer + "/authorize?" + q.Encode())
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.Contains(string(body), `href="cursor://anysphere.cursor-mcp/oauth/callback?error=invalid_request`) {
				t.Fatalf("error: status %d Location %q; want an error page linking to the client: %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			q, _ = e.authorizeParams(cursor, url.Values{"client_id": {c.ID}})
			if loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode())); loc.Scheme != "cursor" || loc.Query().Get("code") == "" {
				t.Fatalf("approved request sent to %s", loc)
			}
		}, func(_ *env, cfg *provider.Config) {
			cfg.RedirectURIRules.DotlessSchemes = provider.KnownDotlessClientSchemes()
		})
	})
}

// Issue 14 finding 10: a registered loopback redirect URI matches another port only;
// everything else is compared as written (OAuth 2.1 §2.3.1, RFC 8252 §7.3). fosite's own
// loopback matching accepted a decoded path, an upper-case scheme and any digits as a port.
func TestIssue14Finding10_RFC8252_7_3_OnlyThePortVaries(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		c, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{ID: "loop", Public: true, RedirectURIs: []string{
			"http://127.0.0.1:9999/cb", "http://[::1]:9999/cb", "http://localhost:9999/callback",
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ok := range []string{
			"http://127.0.0.1:9999/cb", "http://127.0.0.1:1234/cb", "http://127.0.0.1/cb", "http://127.0.0.1:65535/cb",
			"http://[::1]:1/cb", "http://localhost:50000/callback", // localhost: compat.Options.LocalhostAnyPort (on here)
		} {
			q, _ := e.authorizeParams(ok, url.Values{"client_id": {c.ID}})
			if loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode())); loc.Query().Get("code") == "" {
				t.Errorf("%s: sent to %s", ok, loc)
			}
		}
		for _, bad := range []string{
			"http://127.0.0.1:9999/%63b", "HTTP://127.0.0.1:9999/cb", "Http://127.0.0.1:1/cb", "http://127.0.0.1:09999/cb",
			"http://127.0.0.1:99999999999/cb", "http://127.0.0.1:/cb", "http://127.0.0.1:0/cb", "http://127.0.0.1:65536/cb",
			"http://127.0.0.1:9999/cb/", "http://127.0.0.1:9999/CB", "http://127.0.0.1:9999/cb?", "http://127.0.0.1:9999/cb?x=1",
			"http://127.0.0.1:9999//cb", "http://127.000.0.1:9999/cb", "http://127.0.0.2:9999/cb", "http://[::1]:09999/cb",
			"http://[0:0:0:0:0:0:0:1]:9999/cb", "http://[::1]:/cb", "http://LOCALHOST:9999/callback", "http://localhost:09999/callback",
			"http://localhost:9999/%63allback", "http://u@127.0.0.1:9999/cb", "http://127.0.0.1:9999/cb#x",
		} {
			q, _ := e.authorizeParams(bad, url.Values{"client_id": {c.ID}})
			resp := e.get(e.issuer + "/authorize?" + q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%s: status %d Location %q; want an error page", bad, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})
}

// foreignClients is a Storage whose GetClient returns a fosite.DefaultClient, not a
// *provider.Client, for the client ID "foreign": a custom storage's own client type.
type foreignClients struct {
	*gormstore.Store
}

func (s foreignClients) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	if id != "foreign" {
		return s.Store.GetClient(ctx, id)
	}
	return &fosite.DefaultClient{ID: id, Public: true, RedirectURIs: []string{"http://127.0.0.1:9999/cb"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"read"}}, nil
}

// Issue 14 finding 10 for a storage returning its own client type: the port-only rule
// holds there too (fosite's loopback matching never decides).
func TestIssue14Finding10_OnlyThePortVaries_ForeignClientType(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		// The row the foreign type stands for (codes reference their client in storage).
		if _, _, err := e.p.CreateClient(context.Background(), provider.ClientSpec{ID: "foreign", Public: true,
			RedirectURIs: []string{"http://127.0.0.1:9999/cb"}}); err != nil {
			t.Fatal(err)
		}
		q, _ := e.authorizeParams("http://127.0.0.1:1234/cb", url.Values{"client_id": {"foreign"}})
		if loc := location(t, e.get(e.issuer+"/authorize?"+q.Encode())); loc.Query().Get("code") == "" || loc.Host != "127.0.0.1:1234" {
			t.Errorf("port variant: sent to %s", loc)
		}
		for _, bad := range []string{"http://127.0.0.1:9999/%63b", "HTTP://127.0.0.1:9999/cb", "http://127.0.0.1:09999/cb"} {
			q, _ := e.authorizeParams(bad, url.Values{"client_id": {"foreign"}})
			resp := e.get(e.issuer + "/authorize?" + q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%s: status %d Location %q; want an error page", bad, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	}, func(e *env, cfg *provider.Config) { cfg.Storage = foreignClients{Store: e.store} })
}
