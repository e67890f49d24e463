package conformance

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestParseChallenges pins the RFC 9110 §11.6.1 challenge syntax the suite reads:
// several challenges in one header, quoted-string escapes, token values, token68.
func TestParseChallenges(t *testing.T) {
	got := parseChallenges([]string{
		`Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", error_description="say \"hi\""`,
		`Bearer`,
		`Negotiate abc123==`,
		`Bearer error=invalid_token`,
	})
	want := []challenge{
		{"Basic", map[string]string{"realm": "x"}},
		{"Bearer", map[string]string{"error": "insufficient_scope", "scope": "a b",
			"resource_metadata": "https://h/.well-known/oauth-protected-resource/mcp", "error_description": `say "hi"`}},
		{"Bearer", map[string]string{}},
		{"Negotiate", map[string]string{"": "abc123=="}},
		{"Bearer", map[string]string{"error": "invalid_token"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

// TestRedactURL: codes, tokens and secrets never reach the evidence.
func TestRedactURL(t *testing.T) {
	in := "http://127.0.0.1/callback?code=SECRETCODE&state=s1&iss=http%3A%2F%2Fh&access_token=SECRETTOKEN"
	out := redactURL(in)
	if strings.Contains(out, "SECRET") || !strings.Contains(out, "state=s1") || !strings.Contains(out, "code=[redacted]") {
		t.Errorf("redactURL = %q", out)
	}
	if redactURL("http://h/x?state=1") != "http://h/x?state=1" {
		t.Error("a URL without secrets changed")
	}
}

// TestSameRedirect: loopback redirect URIs match on any port, others exactly.
func TestSameRedirect(t *testing.T) {
	cases := []struct {
		got, want string
		same      bool
	}{
		{"http://127.0.0.1:5000/callback?code=x", "http://127.0.0.1/callback", true},
		{"http://localhost:5000/callback", "http://localhost/callback", true},
		{"http://127.0.0.1:5000/other", "http://127.0.0.1/callback", false},
		{"https://app.example/cb", "https://app.example:8443/cb", false},
		{"https://attacker.invalid/callback?error=x", "https://attacker.invalid/callback", true},
		{"com.example.app:/cb?code=1", "com.example.app:/cb", true},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.got)
		if sameRedirect(u, c.want) != c.same {
			t.Errorf("sameRedirect(%q, %q) = %v", c.got, c.want, !c.same)
		}
	}
}

// TestCatalogue: IDs are unique, every check has a source and a level, and every ID the
// code records is in the catalogue (record panics otherwise).
func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range catalogue {
		if seen[c.ID] {
			t.Errorf("duplicate ID %s", c.ID)
		}
		seen[c.ID] = true
		if c.Source == "" || c.Title == "" || c.Area == "" || (c.Level != MUST && c.Level != SHOULD) {
			t.Errorf("incomplete check %+v", c)
		}
	}
	for _, id := range flowChecks {
		if !seen[id] {
			t.Errorf("flowChecks names unknown %s", id)
		}
	}
}
