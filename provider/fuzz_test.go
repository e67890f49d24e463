package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// FuzzParseBasicAuth: ParseBasicAuth never panics, and whatever it accepts net/http
// (which fosite uses) reads the same way, so our pre-check and fosite agree on who
// the client is.
func FuzzParseBasicAuth(f *testing.F) {
	for _, seed := range []string{
		basic("web-app", "s3cret"), basic("a:b", "c d%"), basic("ü", "€"), "Basic", "Basic ", "basic " + base64.StdEncoding.EncodeToString([]byte("a:b")),
		"Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "Basic " + base64.StdEncoding.EncodeToString([]byte(":secret")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:x")), "Bearer abc", "Basic  " + base64.StdEncoding.EncodeToString([]byte("a:b")),
		"Basic " + base64.RawStdEncoding.EncodeToString([]byte("a:bc")),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, secret, err := provider.ParseBasicAuth(header)
		if err != nil {
			return
		}
		if id == "" {
			t.Fatal("accepted an empty client ID")
		}
		r := &http.Request{Header: http.Header{"Authorization": {header}}}
		rawID, rawSecret, ok := r.BasicAuth()
		if !ok {
			t.Fatalf("net/http refuses %q, which we accepted", header)
		}
		if uid, err := url.QueryUnescape(rawID); err != nil || uid != id {
			t.Fatalf("client ID %q, net/http reads %q", id, uid)
		}
		if us, err := url.QueryUnescape(rawSecret); err != nil || us != secret {
			t.Fatalf("secret mismatch")
		}
	})
}

// FuzzBasicAuthRoundTrip: credentials encoded as RFC 6749 §2.3.1 says decode back.
func FuzzBasicAuthRoundTrip(f *testing.F) {
	f.Add("web-app", "s3cret")
	f.Add("a:b c", "%+&=")
	f.Add("ü", "")
	f.Fuzz(func(t *testing.T, id, secret string) {
		if id == "" {
			return
		}
		gotID, gotSecret, err := provider.ParseBasicAuth(basic(id, secret))
		if err != nil || gotID != id || gotSecret != secret {
			t.Fatalf("(%q, %q) → (%q, %q, %v)", id, secret, gotID, gotSecret, err)
		}
	})
}

// FuzzCanonicalResource: canonicalisation is idempotent and yields an absolute URI with
// a lowercase scheme and host, no fragment and no default port.
func FuzzCanonicalResource(f *testing.F) {
	for _, seed := range []string{
		"https://mcp.example.com/mcp", "HTTPS://MCP.EXAMPLE.COM:443/mcp", "http://127.0.0.1:80/", "https://[::1]:8443/a?b=c",
		"https://x.example/#frag", "/relative", "mailto:a@b", "https://u:p@x.example/", "https://x.example", "https://X.example:8080/A/",
		"https://[fe80::1%25eth0]/", "http://%41.example/", "https://x.example/a%2Fb", "https://]:0/mcp", "https://[x]/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := provider.CanonicalResource(raw)
		if err != nil {
			return
		}
		c2, err := provider.CanonicalResource(c)
		if err != nil || c2 != c {
			t.Fatalf("not idempotent: %q → %q → %q, %v", raw, c, c2, err)
		}
		u, err := url.Parse(c)
		if err != nil || !u.IsAbs() || u.Host == "" || strings.Contains(c, "#") || u.User != nil {
			t.Fatalf("%q → %q is not a fragment-free absolute URI", raw, c)
		}
		if u.Scheme != strings.ToLower(u.Scheme) || u.Hostname() != strings.ToLower(u.Hostname()) {
			t.Fatalf("%q → %q not lowercase", raw, c)
		}
		if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
			t.Fatalf("%q → %q keeps the default port", raw, c)
		}
	})
}

// FuzzValidateRedirectURI: an accepted redirect URI parses, has no fragment or user
// information, and uses http only on a loopback host and never a dangerous scheme.
func FuzzValidateRedirectURI(f *testing.F) {
	for _, seed := range []string{
		"https://app.example/cb", "http://127.0.0.1:1/cb", "http://localhost/cb", "http://[::1]/cb", "com.example.app:/cb",
		"javascript:alert(1)", "JavaScript://%0aalert(1)", "http://localhost.evil/cb", "http://127.0.0.1.evil/cb", "https://a/#",
		"data:text/html,x", "http://0x7f000001/cb", "http://[::ffff:127.0.0.1]/cb", "vscode://x/y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if provider.ValidateRedirectURI(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || strings.Contains(raw, "#") || u.User != nil || !u.IsAbs() {
			t.Fatalf("accepted %q", raw)
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
			h := u.Hostname()
			if ip := net.ParseIP(h); !(strings.EqualFold(h, "localhost") || ip != nil && ip.IsLoopback()) {
				t.Fatalf("accepted http off loopback: %q", raw)
			}
		case "javascript", "data", "vbscript", "file":
			t.Fatalf("accepted dangerous scheme: %q", raw)
		}
	})
}

// FuzzEndpoints sends arbitrary bodies, queries and Authorization headers to every
// endpoint (the device flow's included): never a panic and never a 5xx.
func FuzzEndpoints(f *testing.F) {
	s := gormtest.Open(f, gormtest.SQLite)
	issuer := "http://127.0.0.1:9/oauth"
	p, err := provider.New(provider.Config{
		Issuer: issuer, Storage: s, GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
		Scopes: []string{"read"}, Resources: []string{"http://127.0.0.1:9/mcp"}, EnableClientCredentials: true,
		AutoApprove:         func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "u", true },
		DeviceAuthorization: &provider.DeviceAuthorizationOptions{},
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := p.CreateClient(ctx, provider.ClientSpec{ID: "dev", Public: true, GrantTypes: []string{provider.GrantTypeDeviceCode}}); err != nil {
		f.Fatal(err)
	}
	if _, _, err := p.CreateClient(ctx, provider.ClientSpec{ID: "pub", Public: true, RedirectURIs: []string{"http://localhost/cb"}}); err != nil {
		f.Fatal(err)
	}
	_, confSecret, err := p.CreateClient(ctx, provider.ClientSpec{ID: "conf", GrantTypes: []string{"client_credentials"}})
	if err != nil {
		f.Fatal(err)
	}
	h := p.Handler()
	paths := []string{"/oauth/authorize", "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/login", "/.well-known/oauth-authorization-server/oauth",
		"/oauth/device_authorization", "/oauth/device"}
	for _, seed := range []struct {
		path          uint8
		method, query string
		body, auth    string
	}{
		{0, "GET", "response_type=code&client_id=pub&redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=http%3A%2F%2F127.0.0.1%3A9%2Fmcp", "", ""},
		{0, "POST", "", "client_id=pub&redirect_uri=http://localhost:1/cb&response_type=code", ""},
		{1, "POST", "", "grant_type=authorization_code&code=ory_ac_x.y&code_verifier=abc&client_id=pub&redirect_uri=x", ""},
		{1, "POST", "", "grant_type=client_credentials&resource=%zz", basic("conf", confSecret)},
		{1, "POST", "", "grant_type=refresh_token&refresh_token=ory_rt_a.b&client_id=pub", ""},
		// Descriptions that quote the request: a grant type and a response type with a
		// backslash, a line break and a non-ASCII letter.
		{1, "POST", "", "grant_type=x%5Cy%C3%A9%0A&client_id=pub", ""},
		{0, "GET", "response_type=co%5Cde%C3%A9&client_id=pub&redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fcb&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256", "", ""},
		// A key of an issue time and 32 bytes (orderedHMAC's), a forged HMAC.
		{1, "POST", "", "grant_type=refresh_token&refresh_token=ory_rt_AZOhssPUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.b&client_id=pub", ""},
		{2, "POST", "", "token=ory_at_AZOhssPUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.b.c", basic("conf", confSecret)},
		{1, "POST", "", "grant_type=client_credentials", "Basic Y29uZjpjb25mLXNlY3JldA=="},
		{2, "POST", "", "token=x&token_type_hint=refresh_token", basic("conf", confSecret)},
		{3, "POST", "", "token=ory_at_x.y", "Basic !!"},
		{4, "POST", "", "auth_request=x&csrf_token=y&action=approve", ""},
		{4, "GET", "auth_request=%00", "", ""},
		{0, "GET", "client_id=pub&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax", "", ""},
		{5, "OPTIONS", "", "", ""},
		{6, "POST", "", "client_id=dev&scope=read&resource=http%3A%2F%2F127.0.0.1%3A9%2Fmcp", ""},
		{6, "POST", "", "client_id=dev&resource=%zz&scope=a%20a", ""},
		{1, "POST", "", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=ory_dc_a.b&client_id=dev", ""},
		{7, "GET", "user_code=BCDF-GHJK", "", ""},
		{7, "POST", "", "user_code=bcdf%00ghjk&csrf_token=x&action=approve", ""},
		// private_key_jwt (RFC 7523 §2.2): an unverifiable assertion naming a client without keys.
		{1, "POST", "", "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer" +
			"&client_assertion=eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJjb25mIiwic3ViIjoiY29uZiIsImF1ZCI6Imh0dHA6Ly8xMjcuMC4wLjE6OS9vYXV0aC90b2tlbiJ9.c2ln", ""},
		{1, "POST", "", "grant_type=client_credentials&client_assertion_type=x&client_assertion=a.b.c&client_id=conf", ""},
	} {
		f.Add(seed.path, seed.method, seed.query, seed.body, seed.auth)
	}
	f.Fuzz(func(t *testing.T, path uint8, method, query, body, auth string) {
		switch method {
		case "GET", "POST", "HEAD", "OPTIONS", "PUT":
		default:
			method = "POST"
		}
		u := issuer[:len("http://127.0.0.1:9")] + paths[int(path)%len(paths)]
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s body %q auth %q: %d %s", method, u, query, body, auth, rec.Code, rec.Body)
		}
		// RFC 6749 §5.2 / §4.1.2.1: an error_description, in a JSON body or an error
		// redirect, keeps to its character set, whatever of the request it quotes.
		var e struct {
			Description string `json:"error_description"`
		}
		descriptions := []string{}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && json.Unmarshal(rec.Body.Bytes(), &e) == nil {
			descriptions = append(descriptions, e.Description)
		}
		if loc, err := url.Parse(rec.Header().Get("Location")); err == nil {
			descriptions = append(descriptions, loc.Query().Get("error_description"))
		}
		for _, d := range descriptions {
			if d != provider.ErrorDescription(d) {
				t.Fatalf("%s %s?%s body %q: error_description %q outside RFC 6749 §5.2's characters", method, u, query, body, d)
			}
		}
	})
}

// FuzzStorageSignature: the signature a code or token is stored under never panics to
// derive, whatever the string; when there is one, it is the token's HMAC (the part after
// its one dot) with at most an issue-time prefix before it (12 lowercase hex digits and a
// dot, SignatureIssueOrder), so nothing an attacker sends reaches storage but a verifiable
// HMAC and a time.
func FuzzStorageSignature(f *testing.F) {
	p, err := provider.New(provider.Config{
		Issuer: "http://127.0.0.1:9/oauth", Storage: gormtest.Open(f, gormtest.SQLite), GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
		AutoApprove: func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "u", true },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"ory_rt_AZOhssPUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.yHd0aY6_x-M1Q2abc", "ory_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.abc",
		"ory_ac_key.sig", "ory_rt_.x", "ory_rt_k.", "ory_at_a.b.c", "", ".", "ory_at_", "ory_ac_!!!!!!!!.x", "plain",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		sig := provider.StorageSignature(p, token)
		if sig == "" {
			return
		}
		hmacPart := token[strings.LastIndexByte(token, '.')+1:]
		order := provider.SignatureIssueOrder(sig)
		if sig != order+hmacPart || hmacPart == "" {
			t.Fatalf("StorageSignature(%q) = %q: want an issue order (%q) and the HMAC %q", token, sig, order, hmacPart)
		}
		if order != "" && (len(order) != 13 || strings.Trim(order[:12], "0123456789abcdef") != "" || order[12] != '.') {
			t.Fatalf("SignatureIssueOrder(%q) = %q: want 12 lowercase hex digits and a dot", sig, order)
		}
	})
}
