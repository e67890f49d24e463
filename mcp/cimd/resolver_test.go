package cimd_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// A valid document becomes a public client with the document's metadata; the fetch
// asks for JSON.
func TestResolver_ValidDocument(t *testing.T) {
	d := newDocServer(t)
	id := d.url("/oauth/client.json")
	d.serve("/oauth/client.json", with(validDoc(id), map[string]any{
		"grant_types":      []string{"authorization_code", "refresh_token"},
		"scope":            "tools admin",
		"client_uri":       "https://app.example.com",
		"logo_uri":         "https://app.example.com/logo.png",
		"software_id":      "example-mcp",
		"software_version": "1.2.3",
		"application_type": "native",
		"unknown_member":   map[string]any{"ignored": true},
		"jwks_uri":         "https://app.example.com/jwks.json",
	}), "")
	r := d.resolver(t, nil)
	if !r.Resolves(id) || r.Resolves("some-registered-client") || r.Resolves("http://app.example.com/client") {
		t.Fatal("Resolves does not claim exactly the https client IDs")
	}
	c, err := r.ResolveClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := &provider.Client{
		ID: id, Public: true, TokenEndpointAuthMethod: provider.AuthMethodNone, RedirectURIs: []string{docRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"tools", "admin"}, ApplicationType: "native", Name: "Example MCP Client",
		URI: "https://app.example.com", LogoURI: "https://app.example.com/logo.png", SoftwareID: "example-mcp",
		SoftwareVersion: "1.2.3", Source: provider.ClientSourceMetadataDocument,
	}
	if time.Since(c.UpdatedAt) > time.Minute {
		t.Errorf("UpdatedAt %v is not the fetch time", c.UpdatedAt)
	}
	c.UpdatedAt = time.Time{}
	if !equalClients(c, want) {
		t.Fatalf("client\n%+v\nwant\n%+v", c, want)
	}
	if h := d.lastHeader(); h.Get("Accept") != "application/json" || h.Get("User-Agent") == "" {
		t.Fatalf("request headers %v", h)
	}
}

func equalClients(a, b *provider.Client) bool {
	eq := func(x, y []string) bool { return len(x) == len(y) && (len(x) == 0 || slices.Equal(x, y)) }
	return a.ID == b.ID && a.Public == b.Public && a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod &&
		eq(a.RedirectURIs, b.RedirectURIs) && eq(a.GrantTypes, b.GrantTypes) && eq(a.ResponseTypes, b.ResponseTypes) &&
		eq(a.Scopes, b.Scopes) && a.ApplicationType == b.ApplicationType && a.Name == b.Name && a.URI == b.URI &&
		a.LogoURI == b.LogoURI && a.SoftwareID == b.SoftwareID && a.SoftwareVersion == b.SoftwareVersion &&
		a.Source == b.Source && len(a.SecretHash) == 0 && a.UpdatedAt.Equal(b.UpdatedAt)
}

// draft-ietf-oauth-client-id-metadata-document-00 §4.1 and this server's document
// rules: each broken document is refused with a reason naming the rule.
func TestResolver_DocumentRules_Section4_1(t *testing.T) {
	d := newDocServer(t)
	r := d.resolver(t, nil)
	cases := []struct {
		name string
		doc  func(id string) map[string]any
		raw  string // a raw body instead of doc
		ct   string // content type; default application/json
		want string // in the error
	}{
		{name: "client_id differs", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_id": id + "x"})
		}, want: "client_id is not the URL"},
		{name: "client_id with trailing slash", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_id": id + "/"})
		}, want: "client_id is not the URL"},
		{name: "client_id missing", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_id": nil})
		}, want: "no client_id"},
		{name: "client_name missing", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_name": nil})
		}, want: "no client_name"},
		{name: "client_name blank", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_name": "  "})
		}, want: "no client_name"},
		{name: "client_name with control characters", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_name": "Good\u202eevil"})
		}, want: "control, format or private-use characters"},
		{name: "client_name too long", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_name": strings.Repeat("n", cimd.MaxClientNameLength+1)})
		}, want: "too long"},
		{name: "redirect_uris missing", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": nil})
		}, want: "no redirect_uris"},
		{name: "redirect_uris empty", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{}})
		}, want: "no redirect_uris"},
		{name: "redirect URI plain http", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"http://app.example.com/cb"}})
		}, want: "redirect URI"},
		{name: "redirect URI javascript", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"javascript:alert(1)"}})
		}, want: "redirect URI"},
		{name: "redirect URI search-ms (issue 14 finding 1)", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"search-ms:?query=x"}})
		}, want: "redirect URI"},
		{name: "redirect URI x-safari-https (issue 14 finding 1)", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"x-safari-https://app.example.com/cb"}})
		}, want: "redirect URI"},
		{name: "redirect URI dotless scheme without Options.RedirectURIRules (RFC 8252 §7.1)", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"cursor://anysphere.cursor-mcp/oauth/callback"}})
		}, want: "reversed domain name"},
		{name: "redirect URI IRI host (issue 14 finding 5)", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"https://аррӏе.com/cb"}})
		}, want: "redirect URI"},
		{name: "client_name zero-width joiner", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_name": "Claude\u200dCode"})
		}, want: "control, format or private-use characters"},
		{name: "redirect URI with fragment", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"https://app.example.com/cb#x"}})
		}, want: "redirect URI"},
		{name: "redirect URI relative", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": []string{"/cb"}})
		}, want: "redirect URI"},
		{name: "too many redirect URIs", doc: func(id string) map[string]any {
			uris := make([]string, cimd.MaxRedirectURIs+1)
			for i := range uris {
				uris[i] = "https://app.example.com/cb" + strconv.Itoa(i)
			}
			return with(validDoc(id), map[string]any{"redirect_uris": uris})
		}, want: "too many"},
		{name: "client_secret", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_secret": "s3cret"})
		}, want: "client_secret"},
		{name: "client_secret null", doc: func(id string) map[string]any {
			d := validDoc(id)
			d["client_secret"] = (*string)(nil)
			return d
		}, want: "client_secret"},
		{name: "client_secret_expires_at", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_secret_expires_at": 0})
		}, want: "client_secret"},
		{name: "client_secret_basic", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"token_endpoint_auth_method": "client_secret_basic"})
		}, want: "shared secret"},
		{name: "client_secret_post", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"token_endpoint_auth_method": "client_secret_post"})
		}, want: "shared secret"},
		{name: "private_key_jwt without jwks", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"token_endpoint_auth_method": "private_key_jwt"})
		}, want: "needs at least one public key"},
		{name: "private_key_jwt with jwks_uri without Options.JWKSURI", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks"})
		}, want: "jwks_uri is not supported: this server does not fetch client keys; send jwks"},
		{name: "client_secret_jwt", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"token_endpoint_auth_method": "client_secret_jwt"})
		}, want: "shared secret"},
		{name: "implicit grant", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"grant_types": []string{"implicit"}})
		}, want: "grant type"},
		{name: "client_credentials grant", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"grant_types": []string{"client_credentials"}})
		}, want: "grant type"},
		{name: "no authorization_code", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"grant_types": []string{"refresh_token"}})
		}, want: "must include authorization_code"},
		{name: "token response type", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"response_types": []string{"code", "token"}})
		}, want: "response type"},
		{name: "bad application_type", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"application_type": "browser"})
		}, want: "application_type"},
		{name: "javascript logo_uri", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"logo_uri": "javascript:alert(1)"})
		}, want: "logo_uri"},
		{name: "http client_uri", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"client_uri": "http://app.example.com"})
		}, want: "client_uri"},
		{name: "malformed scope", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"scope": "tools \"admin\""})
		}, want: "scope"},
		{name: "redirect_uris not an array", doc: func(id string) map[string]any {
			return with(validDoc(id), map[string]any{"redirect_uris": docRedirect})
		}, want: "not a valid JSON object"},
		{name: "JSON array", raw: `[{"client_id":"x"}]`, want: "not a valid JSON object"},
		{name: "not JSON", raw: `client_id=x`, want: "not a valid JSON object"},
		{name: "trailing garbage", raw: `{"client_name":"x"} {}`, want: "not a valid JSON object"},
		{name: "JSON null", raw: `null`, want: "no client_id"},
		{name: "HTML content type", raw: `{}`, ct: "text/html", want: "application/json"},
		{name: "no content type", raw: `{}`, ct: "-", want: "application/json"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/case/" + strconv.Itoa(i)
			id := d.url(path)
			ct := c.ct
			if ct == "" {
				ct = "application/json"
			}
			if c.doc != nil {
				d.serve(path, c.doc(id), "")
			} else {
				if ct == "-" {
					d.handle(path, func(w http.ResponseWriter, _ *http.Request) {
						w.Header()["Content-Type"] = nil
						_, _ = w.Write([]byte(c.raw))
					})
				} else {
					d.serveRaw(path, ct, c.raw, "")
				}
			}
			_, err := r.ResolveClient(t.Context(), id)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// A document served as application/<something>+json is accepted (§4.1).
func TestResolver_StructuredJSONMediaType(t *testing.T) {
	d := newDocServer(t)
	id := d.url("/client")
	d.serveRaw("/client", "application/client-metadata+json; charset=utf-8", `{"client_id":"`+id+`","client_name":"x","redirect_uris":["`+docRedirect+`"]}`, "")
	if _, err := d.resolver(t, nil).ResolveClient(t.Context(), id); err != nil {
		t.Fatal(err)
	}
}

// §3: an invalid client ID URL is refused before anything is fetched.
func TestResolver_InvalidClientIDNotFetched(t *testing.T) {
	d := newDocServer(t)
	d.serve("/client", validDoc(d.url("/client")), "")
	r := d.resolver(t, nil)
	for _, id := range []string{
		d.url("/client#frag"), d.url("/./client"), d.url("/a/../client"), d.url("/client?x=1"),
		strings.Replace(d.url("/client"), "https://", "https://user:pw@", 1), strings.Replace(d.url("/client"), "https", "http", 1),
		d.url(""), d.url("/"),
	} {
		if _, err := r.ResolveClient(t.Context(), id); err == nil {
			t.Errorf("%s: resolved", id)
		}
	}
	if n := d.count("/client"); n != 0 {
		t.Fatalf("%d fetches for invalid client IDs", n)
	}
}

// §4: the document must be answered with 200; redirects are not followed.
func TestResolver_NoRedirectsAndStatus200(t *testing.T) {
	d := newDocServer(t)
	target := d.url("/target")
	d.serve("/target", validDoc(target), "")
	r := d.resolver(t, nil)
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		path := "/redirect/" + strconv.Itoa(status)
		d.handle(path, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, status) })
		_, err := r.ResolveClient(t.Context(), d.url(path))
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("%d: error %v, want a redirect refusal", status, err)
		}
	}
	if n := d.count("/target"); n != 0 {
		t.Fatalf("the redirect target was fetched %d times", n)
	}
	for _, status := range []int{http.StatusNoContent, http.StatusNotFound, http.StatusInternalServerError} {
		path := "/status/" + strconv.Itoa(status)
		d.handle(path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
		})
		if _, err := r.ResolveClient(t.Context(), d.url(path)); err == nil || !strings.Contains(err.Error(), strconv.Itoa(status)) {
			t.Errorf("%d: error %v", status, err)
		}
	}
}

// §6.6: the response is read incrementally up to the cap; a document of exactly the
// cap is accepted, one byte more is refused, with or without Content-Length, and an
// endless body does not keep the resolver reading.
func TestResolver_SizeCap_Section6_6(t *testing.T) {
	d := newDocServer(t)
	const limit = 2048
	r := d.resolver(t, &cimd.Options{MaxDocumentBytes: limit})
	padded := func(id string, size int) string {
		base := `{"client_id":"` + id + `","client_name":"x","redirect_uris":["` + docRedirect + `"]}`
		return base[:len(base)-1] + strings.Repeat(" ", size-len(base)) + "}"
	}
	exact, over := d.url("/exact"), d.url("/over")
	d.serveRaw("/exact", "application/json", padded(exact, limit), "")
	d.serveRaw("/over", "application/json", padded(over, limit+1), "")
	if _, err := r.ResolveClient(t.Context(), exact); err != nil {
		t.Fatalf("a document of exactly the cap: %v", err)
	}
	if _, err := r.ResolveClient(t.Context(), over); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("one byte over the cap: %v", err)
	}

	// Chunked (no Content-Length), endless: the handler counts what it could write.
	var written int64
	var mu sync.Mutex
	endless := d.url("/endless")
	d.handle("/endless", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(`{"client_id":"` + endless + `",` + strings.Repeat(" ", 1000))
		for i := 0; i < 100_000 && r.Context().Err() == nil; i++ {
			n, err := w.Write(chunk)
			mu.Lock()
			written += int64(n)
			mu.Unlock()
			if err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	start := time.Now()
	if _, err := r.ResolveClient(t.Context(), endless); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("endless body: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("refusing an endless body took %v", el)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if written >= 100_000*1000 {
		t.Fatalf("the resolver read the whole endless body (%d bytes)", written)
	}
}

// A document that does not arrive in time fails with a timeout, whether the headers or
// the body are slow.
func TestResolver_Timeout(t *testing.T) {
	d := newDocServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slowBody := d.url("/slow-body")
	d.handle("/slow-body", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"client_id":"` + slowBody + `",`))
		w.(http.Flusher).Flush()
		<-release
	})
	d.handle("/slow-headers", func(http.ResponseWriter, *http.Request) { <-release })
	r := d.resolver(t, &cimd.Options{Timeout: 300 * time.Millisecond})
	for _, path := range []string{"/slow-body", "/slow-headers"} {
		start := time.Now()
		_, err := r.ResolveClient(t.Context(), d.url(path))
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("%s: error %v, want a timeout", path, err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: took %v with a 300ms timeout", path, el)
		}
	}
}

// §6.5: with the default guard, a document on a loopback address is refused when the
// connection is dialed, for an IP literal and for a host name resolving to loopback
// (localhost): the check is on the resolved address, so DNS rebinding cannot get
// around it. Nothing reaches the server.
func TestResolver_DefaultGuardRefusesLoopback_Section6_5(t *testing.T) {
	d := newDocServer(t)
	d.serve("/client", validDoc(d.url("/client")), "")
	r, err := cimd.New(&cimd.Options{RootCAs: d.roots(), Logger: quiet}) // no AllowAddress
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(d.srv.Listener.Addr().String(), ":")
	for _, id := range []string{
		"https://127.0.0.1:" + port + "/client",
		"https://localhost:" + port + "/client",
		"https://[::1]:" + port + "/client",
		"https://127.1.2.3:" + port + "/client",
	} {
		_, err := r.ResolveClient(t.Context(), id)
		if err == nil || !strings.Contains(err.Error(), "no allowed public address") {
			t.Errorf("%s: error %v, want the guard's refusal", id, err)
		}
		if err != nil && (strings.Contains(err.Error(), "127.") || strings.Contains(err.Error(), "::1")) {
			t.Errorf("%s: the error names an internal address: %v", id, err)
		}
	}
	if n := d.count("/client"); n != 0 {
		t.Fatalf("the server saw %d requests", n)
	}
}

// A certificate the resolver does not trust fails the fetch.
func TestResolver_UntrustedCertificate(t *testing.T) {
	d := newDocServer(t)
	d.serve("/client", validDoc(d.url("/client")), "")
	r, err := cimd.New(&cimd.Options{Logger: quiet, AllowAddress: func(netip.Addr) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ResolveClient(t.Context(), d.url("/client")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error %v, want a certificate failure", err)
	}
}

// §4.4: a document is cached for its max-age; a changed document is picked up once it
// expires; no-store is never cached; errors are never cached.
func TestResolver_Cache_Section4_4(t *testing.T) {
	d := newDocServer(t)
	r := d.resolver(t, &cimd.Options{DefaultCacheTTL: time.Hour})
	ctx := t.Context()

	long := d.url("/long")
	d.serve("/long", validDoc(long), "public, max-age=3600")
	for i := 0; i < 3; i++ {
		if _, err := r.ResolveClient(ctx, long); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.count("/long"); n != 1 {
		t.Fatalf("max-age=3600: %d fetches, want 1", n)
	}

	short := d.url("/short")
	d.serve("/short", validDoc(short), "max-age=1")
	if c, err := r.ResolveClient(ctx, short); err != nil || c.Name != "Example MCP Client" {
		t.Fatal(c, err)
	}
	d.serve("/short", with(validDoc(short), map[string]any{"client_name": "Renamed"}), "max-age=1")
	if c, _ := r.ResolveClient(ctx, short); c == nil || c.Name != "Example MCP Client" {
		t.Fatalf("within max-age: %+v, want the cached document", c)
	}
	time.Sleep(1100 * time.Millisecond)
	if c, err := r.ResolveClient(ctx, short); err != nil || c.Name != "Renamed" {
		t.Fatalf("after max-age: %+v %v, want the changed document", c, err)
	}
	if n := d.count("/short"); n != 2 {
		t.Fatalf("max-age=1: %d fetches, want 2", n)
	}

	for _, cc := range []string{"no-store", "no-cache", "max-age=0", "max-age=banana", "max-age=10, no-store"} {
		path := "/nocache/" + strings.NewReplacer(" ", "", ",", "", "=", "").Replace(cc)
		id := d.url(path)
		d.serve(path, validDoc(id), cc)
		for i := 0; i < 2; i++ {
			if _, err := r.ResolveClient(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if n := d.count(path); n != 2 {
			t.Errorf("Cache-Control %q: %d fetches, want 2 (not cached)", cc, n)
		}
	}

	// Age counts against max-age.
	aged := d.url("/aged")
	d.handle("/aged", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=100")
		w.Header().Set("Age", "100")
		_, _ = w.Write([]byte(`{"client_id":"` + aged + `","client_name":"x","redirect_uris":["` + docRedirect + `"]}`))
	})
	for i := 0; i < 2; i++ {
		if _, err := r.ResolveClient(ctx, aged); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.count("/aged"); n != 2 {
		t.Errorf("an expired (Age = max-age) response was cached: %d fetches", n)
	}

	// Errors are not cached: the next request fetches again and succeeds.
	flaky := d.url("/flaky")
	if _, err := r.ResolveClient(ctx, flaky); err == nil {
		t.Fatal("resolved a missing document")
	}
	d.serve("/flaky", validDoc(flaky), "")
	if _, err := r.ResolveClient(ctx, flaky); err != nil {
		t.Fatalf("after the document appeared: %v", err)
	}
	if n := d.count("/flaky"); n != 2 {
		t.Fatalf("%d fetches, want 2 (the error was cached)", n)
	}

	// Forget drops a cached document.
	r.Forget(long)
	if _, err := r.ResolveClient(ctx, long); err != nil {
		t.Fatal(err)
	}
	if n := d.count("/long"); n != 2 {
		t.Fatalf("after Forget: %d fetches, want 2", n)
	}
}

// Concurrent resolutions of one URL share one fetch, and a caller giving up does not
// cancel it for the others.
func TestResolver_ConcurrentResolutionsShareOneFetch(t *testing.T) {
	d := newDocServer(t)
	id := d.url("/client")
	body := `{"client_id":"` + id + `","client_name":"x","redirect_uris":["` + docRedirect + `"]}`
	d.handle("/client", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store") // not even cached: only sharing saves fetches
		_, _ = w.Write([]byte(body))
	})
	r := d.resolver(t, nil)

	impatient, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	impatientErr := make(chan error, 1)
	go func() {
		_, err := r.ResolveClient(impatient, id)
		impatientErr <- err
	}()
	time.Sleep(10 * time.Millisecond)

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := r.ResolveClient(t.Context(), id)
			if err == nil && c.ID != id {
				err = errors.New("wrong client " + c.ID)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := <-impatientErr; err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the impatient caller: %v, want its deadline", err)
	}
	if got := d.count("/client"); got != 1 {
		t.Fatalf("%d fetches for %d concurrent resolutions, want 1", got, n+1)
	}
}

// Options are validated.
func TestNew_Options(t *testing.T) {
	for _, o := range []cimd.Options{
		{Timeout: -1}, {MaxDocumentBytes: -1}, {MaxCacheEntries: -1},
		{DefaultGrantTypes: []string{"client_credentials"}},
	} {
		if _, err := cimd.New(&o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := cimd.New(nil); err != nil {
		t.Fatal(err)
	}
}

// Options.RedirectURIRules (compat.Options.DotlessClientSchemes under mcp.New) admits a
// configured dotless private-use scheme in a document; the deny list still applies.
func TestResolver_RedirectURIRules_RFC8252_7_1(t *testing.T) {
	d := newDocServer(t)
	ok, denied := d.url("/cursor.json"), d.url("/denied.json")
	d.serve("/cursor.json", with(validDoc(ok), map[string]any{"redirect_uris": []string{"cursor://anysphere.cursor-mcp/oauth/callback"}}), "")
	d.serve("/denied.json", with(validDoc(denied), map[string]any{"redirect_uris": []string{"search-ms:/x"}}), "")
	r := d.resolver(t, &cimd.Options{RedirectURIRules: provider.RedirectURIRules{DotlessSchemes: []string{"cursor", "search-ms"}}})
	if c, err := r.ResolveClient(t.Context(), ok); err != nil || c.RedirectURIs[0] != "cursor://anysphere.cursor-mcp/oauth/callback" {
		t.Fatalf("cursor: %v %v", c, err)
	}
	if _, err := r.ResolveClient(t.Context(), denied); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("search-ms: %v, want refused", err)
	}
}
