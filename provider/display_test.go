package provider_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Issue 14 finding 5: one client_name rule for registration, metadata documents and
// static clients. A 60,000-character name and "Claude Code \u202e(verified by
// Anthropic)" were accepted by registration and rendered on the consent page.
func TestIssue14Finding5_ValidateClientName(t *testing.T) {
	for _, ok := range []string{
		"", "Claude Code", "MCP Inspector", "Визуальный клиент", "日本語クライアント", "🤖 Bot", "a — b", strings.Repeat("n", provider.MaxClientNameLength),
		strings.Repeat("é", provider.MaxClientNameLength),
	} {
		if err := provider.ValidateClientName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{
		strings.Repeat("n", 60000), strings.Repeat("n", provider.MaxClientNameLength+1),
		"Claude Code \u202e(verified by Anthropic)", // right-to-left override
		"Claude\u200bCode",                          // zero-width space
		"Claude\u200dCode",                          // zero-width joiner
		"a\u2066b\u2069",                            // bidi isolates
		"a\x07b", "a\nb", "a\tb", "a\x00b", "a\u0085b",
		"a\u2028b", "a\u2029b", // line and paragraph separators
		"a\ue000b", // private use
		"a\xffb",   // invalid UTF-8
		"a\ufeffb", // byte order mark (format)
	} {
		if err := provider.ValidateClientName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Issue 14 finding 5: consent pages show hosts in ASCII; an internationalized host is
// shown in its punycode form, so https://аррӏе.com/ does not read as apple.com.
func TestIssue14Finding5_DisplayHost(t *testing.T) {
	for raw, want := range map[string]string{
		"https://app.example/cb":                       "app.example",
		"https://App.Example:8443/cb":                  "app.example:8443",
		"http://127.0.0.1:50999/callback":              "127.0.0.1:50999",
		"http://[::1]:8080/cb":                         "[::1]:8080",
		"https://аррӏе.com/cb":                         "xn--80ak6aa92e.com",
		"https://%D0%B0%D1%80%D1%80%D3%8F%D0%B5.com/":  "xn--80ak6aa92e.com",
		"https://bücher.example/":                      "xn--bcher-kva.example",
		"com.example.app:/oauth2redirect":              "com.example.app:",
		"cursor://anysphere.cursor-mcp/oauth/callback": "cursor://anysphere.cursor-mcp",
		"not a url": "",
		"::":        "",
	} {
		if got := provider.DisplayHost(raw); got != want {
			t.Errorf("DisplayHost(%q) = %q, want %q", raw, got, want)
		}
	}
}

// Issue 14 finding 5 on the built-in consent page: client_uri is the client's claim,
// shown as its ASCII host and labelled unverified; CreateClient applies the name rule.
func TestIssue14Finding5_ConsentPageShowsUnverifiedWebsiteInASCII(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, _, err := e.p.CreateClient(ctx, provider.ClientSpec{Public: true, Name: "Claude Code \u202e(verified by Anthropic)",
			RedirectURIs: []string{"http://127.0.0.1/cb"}}); err == nil {
			t.Error("CreateClient accepted a name with U+202E")
		}
		c, _, err := e.p.CreateClient(ctx, provider.ClientSpec{ID: "homograph", Public: true, Name: "Apple",
			URI: "https://аррӏе.com/about", RedirectURIs: []string{"http://127.0.0.1/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		_, body, _, _ := e.loginPage(c.ID, "http://127.0.0.1:8123/cb")
		if strings.Contains(body, "аррӏе") || !strings.Contains(body, "xn--80ak6aa92e.com") || !strings.Contains(body, "unverified") {
			t.Fatalf("consent page shows the website as:\n%s", body)
		}
	}, withLogin())
}
