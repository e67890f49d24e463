package mcp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/internal/syncbuf"
	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/ratelimit"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/idjag"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// PostgreSQL's text columns refuse NUL and invalid UTF-8 (SQLSTATE 22021) where SQLite
// stores them; a value the client chose that reaches such a column unchecked is a 500 on
// PostgreSQL only (software_id at RFC 7591 registration and a client ID at RFC 7592's
// endpoint were). Every parameter of every endpoint the MCP stack serves (the
// authorization endpoint and the built-in login page, the token endpoint with each grant
// and client authentication method, revocation, introspection, RFC 7591 registration and
// RFC 7592 management, device authorization and the verification page, the protected MCP
// endpoint, the metadata documents and the JWKS) gets, one at a time and with valid
// credentials for the rest, a NUL, an invalid UTF-8 byte, a 100 000-byte value and a
// 4 000-byte one: the answer is never a 5xx (a panic is a 500 here) on either database,
// on the default server, with JWT access tokens and under compat.Strict. Each row's
// unchanged request must succeed first, so that the variations reach the code behind
// the credentials. (A NUL in a header value, Bearer token, cookie or Origin, never
// reaches a handler: net/http answers 400 itself. Basic credentials are form-encoded
// first, RFC 6749 §2.3.1, so a NUL reaches the server as %00 and the client
// authentication as a NUL.)
func TestEndpoints_UnstorableText_NoServerError(t *testing.T) {
	values := []struct{ name, v string }{
		{"NUL", "a\x00b"},
		{"invalid UTF-8", "a\xffb"},
		{"100000 bytes", strings.Repeat("a", 100_000)},
		// Beyond a PostgreSQL B-tree index entry (2704 bytes, after compression: random
		// letters), within the authorization endpoint's 8 KiB and the other endpoints'
		// 64 KiB: a value that gets past the size limits.
		{"4000 random bytes", sweepRandom(4000)},
	}
	// The default server (compat.Default, opaque access tokens), the same with RFC 9068
	// JWT access tokens, and compat.Strict (no scope filtering, no default resource, no
	// refresh grace window: other paths through the same endpoints).
	for _, server := range []string{"default", "jwt", "strict"} {
		t.Run(server, func(t *testing.T) {
			gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
				f := newSweepFixture(t, store, server)
				for _, row := range sweepRows() {
					if row.jwtOnly && !f.jwt {
						continue
					}
					mark := f.logs.Len()
					if st, err := f.send(row.base(f)); err != nil || st >= 400 {
						t.Errorf("%s: the unchanged request got %d (%v), want a success: the row reaches nothing\n%s", row.name, st, err, f.logs.Since(mark))
						continue
					}
					for _, v := range values {
						mark := f.logs.Len()
						r := row.base(f)
						r.v = v.v
						row.set(&r, v.v)
						st, err := f.send(r)
						if err != nil || st >= 500 {
							t.Errorf("%s = %s: status %d, error %v\nserver log:\n%s", row.name, v.name, st, err, f.logs.Since(mark))
						}
					}
				}
			})
		})
	}
}

// sweepRandom returns n letters and digits that do not compress, the same every run.
func sweepRandom(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return string(b)
}

// sweepRow is one parameter of one endpoint: base builds a valid request with fresh
// credentials, set puts a value into the parameter.
type sweepRow struct {
	name    string
	jwtOnly bool // served only with JWT access tokens
	base    func(f *sweepFixture) sweepReq
	set     func(r *sweepReq, v string)
}

const (
	sweepRedirect = "http://127.0.0.1/cb"
	sweepPassword = "correct-horse-battery-staple-7"
	sweepMarker   = "\u2603SWEEP\u2603" // stands for the value in JSON bodies and claims
)

func sweepRows() []sweepRow {
	var rows []sweepRow
	add := func(name string, base func(*sweepFixture) sweepReq, sets ...sweepSet) {
		for _, s := range sets {
			rows = append(rows, sweepRow{name: name + ": " + s.name, base: base, set: s.set})
		}
	}

	// Authorization endpoint, GET and POST, then the built-in login page.
	authorizeParams := []sweepSet{
		sweepQuery("response_type"), sweepQuery("client_id"), sweepQuery("redirect_uri"), sweepQuery("scope"), sweepQuery("state"),
		sweepQuery("code_challenge"), sweepQuery("code_challenge_method"), sweepQuery("resource"), sweepQuery("nonce"),
		sweepQuery("prompt"), sweepQuery("response_mode"), sweepQuery("unknown_param"),
		{"client_id (metadata document URL)", func(r *sweepReq, v string) { r.query.Set("client_id", "https://127.0.0.1/client/"+v) }},
		{"redirect_uri (loopback port and path)", func(r *sweepReq, v string) { r.query.Set("redirect_uri", "http://127.0.0.1:49152/cb"+v) }},
		{"scope (second scope)", func(r *sweepReq, v string) { r.query.Set("scope", "tools "+v) }},
		// OpenID Connect request objects, which fosite reads when scope has openid.
		{"request (scope openid)", func(r *sweepReq, v string) { r.query.Set("scope", "tools openid"); r.query.Set("request", v) }},
		{"request_uri (scope openid)", func(r *sweepReq, v string) { r.query.Set("scope", "tools openid"); r.query.Set("request_uri", v) }},
	}
	add("GET /authorize", func(f *sweepFixture) sweepReq { return f.authorizeReq(f.pub.ID) }, authorizeParams...)
	add("POST /authorize", func(f *sweepFixture) sweepReq { return sweepAsPost(f.authorizeReq(f.pub.ID)) }, sweepPostParams(authorizeParams)...)
	add("GET /login", func(f *sweepFixture) sweepReq { return f.loginPage(f.pub.ID).get },
		sweepQuery(provider.LoginRequestParam), sweepQuery("unknown_param"), sweepCookieValue(0))
	add("HEAD /login", func(f *sweepFixture) sweepReq {
		r := f.loginPage(f.pub.ID).get
		r.method = http.MethodHead
		return r
	}, sweepQuery(provider.LoginRequestParam), sweepCookieValue(0))
	add("POST /login", func(f *sweepFixture) sweepReq { return f.loginPage(f.pub.ID).post },
		sweepForm(provider.LoginRequestParam), sweepForm("csrf_token"), sweepForm("action"), sweepForm("username"), sweepForm("password"),
		sweepForm("unknown_param"), sweepCookieValue(0))

	// Token endpoint: each grant.
	codeParams := []sweepSet{sweepForm("grant_type"), sweepForm("code"), sweepForm("code_verifier"), sweepForm("redirect_uri"),
		sweepForm("client_id"), sweepForm("resource"), sweepForm("scope"), sweepForm("unknown_param")}
	add("POST /token authorization_code (public)", func(f *sweepFixture) sweepReq { return f.codeExchange(f.pub.ID, "") }, codeParams...)
	add("POST /token authorization_code (client_secret_basic)", func(f *sweepFixture) sweepReq { return f.codeExchange(f.conf.ID, f.confSecret) },
		sweepBasicUser(), sweepBasicPass(), sweepForm("code"))
	add("POST /token refresh_token", func(f *sweepFixture) sweepReq {
		tok := f.tokens(f.pub.ID)
		return sweepReq{method: http.MethodPost, path: "/token", form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {f.pub.ID}, "resource": {f.base + "/mcp"}}}
	}, sweepForm("grant_type"), sweepForm("refresh_token"), sweepForm("client_id"), sweepForm("scope"), sweepForm("resource"), sweepForm("unknown_param"))
	add("POST /token client_credentials (client_secret_basic)", func(f *sweepFixture) sweepReq { return f.clientCredentials() },
		sweepBasicUser(), sweepBasicPass(), sweepForm("grant_type"), sweepForm("scope"), sweepForm("resource"), sweepForm("client_id"), sweepForm("unknown_param"))
	add("POST /token client_credentials (client_secret_post)", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/token", form: url.Values{"grant_type": {"client_credentials"}, "scope": {"tools"},
			"resource": {f.base + "/mcp"}, "client_id": {f.confPost.ID}, "client_secret": {f.confPostSecret}}}
	}, sweepForm("client_id"), sweepForm("client_secret"))
	add("POST /token client_credentials (private_key_jwt)", func(f *sweepFixture) sweepReq { return f.privateKeyJWT() },
		sweepForm("client_id"), sweepForm("client_assertion_type"), sweepForm("client_assertion"),
		sweepClaim("iss"), sweepClaim("sub"), sweepClaim("aud"), sweepClaim("jti"))
	add("POST /token device_code", func(f *sweepFixture) sweepReq {
		dc, _ := f.deviceAuthorization(true)
		return sweepReq{method: http.MethodPost, path: "/token", form: url.Values{"grant_type": {provider.GrantTypeDeviceCode}, "device_code": {dc}, "client_id": {f.pub.ID}}}
	}, sweepForm("grant_type"), sweepForm("device_code"), sweepForm("client_id"), sweepForm("unknown_param"))
	add("POST /token jwt-bearer (ID-JAG)", func(f *sweepFixture) sweepReq { return f.idJAG() },
		sweepForm("grant_type"), sweepForm("assertion"), sweepForm("client_id"), sweepForm("scope"), sweepForm("resource"),
		sweepClaim("iss"), sweepClaim("sub"), sweepClaim("aud"), sweepClaim("client_id"), sweepClaim("jti"), sweepClaim("scope"), sweepClaim("resource"))

	// Revocation and introspection.
	add("POST /revoke (client_secret_basic)", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/revoke", form: url.Values{"token": {f.ccToken()}, "token_type_hint": {"access_token"}},
			basic: true, user: f.conf.ID, pass: f.confSecret}
	}, sweepForm("token"), sweepForm("token_type_hint"), sweepBasicUser(), sweepBasicPass(), sweepForm("unknown_param"))
	add("POST /revoke (public)", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/revoke", form: url.Values{"token": {f.tokens(f.pub.ID).RefreshToken}, "client_id": {f.pub.ID}}}
	}, sweepForm("token"), sweepForm("client_id"))
	add("POST /introspect (client_secret_basic)", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/introspect", form: url.Values{"token": {f.ccToken()}, "token_type_hint": {"access_token"}},
			basic: true, user: f.conf.ID, pass: f.confSecret}
	}, sweepForm("token"), sweepForm("token_type_hint"), sweepBasicUser(), sweepBasicPass(), sweepForm("unknown_param"))
	add("POST /introspect (refresh token)", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/introspect", form: url.Values{"token": {f.tokens(f.conf.ID).RefreshToken}, "token_type_hint": {"refresh_token"}},
			basic: true, user: f.conf.ID, pass: f.confSecret}
	}, sweepForm("token"), sweepForm("token_type_hint"))
	add("POST /introspect (client_secret_post)", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/introspect", form: url.Values{"token": {f.ccToken()}, "client_id": {f.confPost.ID}, "client_secret": {f.confPostSecret}}}
	}, sweepForm("client_id"), sweepForm("client_secret"))

	// RFC 7591 registration and RFC 7592 management.
	metaMembers := []sweepSet{
		sweepJSONMember("client_name"), sweepJSONList("redirect_uris"), sweepJSONMember("token_endpoint_auth_method"), sweepJSONList("grant_types"),
		sweepJSONList("response_types"), sweepJSONMember("scope"), sweepJSONMember("client_uri"), sweepJSONMember("logo_uri"), sweepJSONMember("tos_uri"),
		sweepJSONMember("policy_uri"), sweepJSONList("contacts"), sweepJSONMember("software_id"), sweepJSONMember("software_version"),
		sweepJSONMember("application_type"), sweepJSONMember("jwks_uri"), sweepJSONMember("token_endpoint_auth_signing_alg"),
		sweepJSONMember("software_statement"), sweepJSONMember("client_secret"), sweepJSONMember("unknown_member"),
		{"redirect_uris (loopback path)", func(r *sweepReq, v string) { r.json["redirect_uris"] = []any{"http://127.0.0.1/cb/" + sweepMarker} }},
	}
	add("POST /register", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/register", json: sweepMetadata()}
	}, append(metaMembers, sweepBearer(), sweepJSONMember("client_id"))...)
	add("POST /register (private_key_jwt)", func(f *sweepFixture) sweepReq {
		m := sweepMetadata()
		m["token_endpoint_auth_method"] = "private_key_jwt"
		m["jwks"] = map[string]any{"keys": []any{f.publicJWK("k1")}}
		return sweepReq{method: http.MethodPost, path: "/register", json: m}
	}, sweepSet{"jwks.keys[0].kid", func(r *sweepReq, _ string) {
		r.json["jwks"].(map[string]any)["keys"].([]any)[0].(map[string]any)["kid"] = sweepMarker
	}}, sweepJSONMember("token_endpoint_auth_signing_alg"))
	add("PUT /register/{client_id} (client_secret_basic)", func(f *sweepFixture) sweepReq {
		m := sweepMetadata()
		m["token_endpoint_auth_method"] = "client_secret_basic"
		reg := f.registerWith(m)
		m["client_id"], m["client_secret"] = reg.ClientID, reg.ClientSecret
		return sweepReq{method: http.MethodPut, path: "/register/" + url.PathEscape(reg.ClientID), bearer: reg.RegistrationAccessToken, json: m}
	}, sweepJSONMember("client_secret"), sweepJSONMember("client_id"), sweepJSONMember("token_endpoint_auth_method"))
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		sets := []sweepSet{sweepPathSegment("/register/"), sweepBearer()}
		if method == http.MethodPut {
			sets = append(sets, metaMembers...)
			sets = append(sets, sweepJSONMember("client_id"))
		}
		add(method+" /register/{client_id}", func(f *sweepFixture) sweepReq {
			reg := f.register()
			r := sweepReq{method: method, path: "/register/" + url.PathEscape(reg.ClientID), bearer: reg.RegistrationAccessToken}
			if method == http.MethodPut {
				r.json = sweepMetadata()
				r.json["client_id"] = reg.ClientID
			}
			return r
		}, sets...)
	}

	// RFC 8628 device authorization and the verification page.
	add("POST /device_authorization", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/device_authorization", form: url.Values{"client_id": {f.pub.ID}, "scope": {"tools offline_access"}, "resource": {f.base + "/mcp"}}}
	}, sweepForm("client_id"), sweepForm("scope"), sweepForm("resource"), sweepForm("unknown_param"))
	add("POST /device_authorization (client_secret_basic)", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/device_authorization", form: url.Values{"scope": {"tools"}, "resource": {f.base + "/mcp"}}, basic: true, user: f.conf.ID, pass: f.confSecret}
	}, sweepBasicUser(), sweepBasicPass())
	add("GET /device", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodGet, path: "/device", query: url.Values{provider.UserCodeParam: {"BCDF-GHJK"}}}
	}, sweepQuery(provider.UserCodeParam), sweepQuery("unknown_param"))
	for _, action := range []string{"lookup", "approve", "deny"} {
		add("POST /device action="+action, func(f *sweepFixture) sweepReq { return f.devicePage(action) },
			sweepForm(provider.UserCodeParam), sweepForm("csrf_token"), sweepForm("action"), sweepForm("username"), sweepForm("password"), sweepCookieValue(0))
	}

	// The protected MCP endpoint and the metadata documents.
	add("POST /mcp", func(f *sweepFixture) sweepReq {
		return sweepReq{method: http.MethodPost, path: "/mcp", bearer: f.accessToken(), json: map[string]any{"jsonrpc": "2.0"}}
	}, sweepBearer(), sweepQuery("unknown_param"), sweepJSONMember("method"))
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/.well-known/oauth-protected-resource/mcp"} {
		add("GET "+p, func(*sweepFixture) sweepReq { return sweepReq{method: http.MethodGet, path: p} },
			sweepQuery("unknown_param"), sweepPathSegment(p+"/"))
	}
	add("GET /.well-known/oauth-protected-resource", func(*sweepFixture) sweepReq {
		return sweepReq{method: http.MethodGet, path: "/.well-known/oauth-protected-resource/mcp"}
	}, sweepPathSegment("/.well-known/oauth-protected-resource/"))
	rows = append(rows, sweepRow{name: "GET " + jwtaccess.JWKSPath + ": query unknown_param", jwtOnly: true,
		base: func(*sweepFixture) sweepReq { return sweepReq{method: http.MethodGet, path: jwtaccess.JWKSPath} },
		set:  sweepQuery("unknown_param").set})
	for _, p := range []string{"/token", "/revoke", "/introspect", "/device_authorization", "/register"} {
		add("OPTIONS "+p, func(*sweepFixture) sweepReq {
			return sweepReq{method: http.MethodOptions, path: p, origin: "https://app.example.com"}
		}, sweepSet{"Origin header", func(r *sweepReq, v string) { r.origin = v }})
	}
	return rows
}

// ---- setters ----

type sweepSet struct {
	name string
	set  func(r *sweepReq, v string)
}

func sweepQuery(k string) sweepSet {
	return sweepSet{"query " + k, func(r *sweepReq, v string) {
		if r.query == nil {
			r.query = url.Values{}
		}
		r.query.Set(k, v)
	}}
}

func sweepForm(k string) sweepSet {
	return sweepSet{"form " + k, func(r *sweepReq, v string) { r.form.Set(k, v) }}
}

// sweepPostParams turns the query setters of the authorization endpoint into form setters.
func sweepPostParams(sets []sweepSet) []sweepSet {
	out := make([]sweepSet, len(sets))
	for i, s := range sets {
		out[i] = sweepSet{strings.Replace(s.name, "query ", "form ", 1), func(r *sweepReq, v string) {
			r.query = r.form
			s.set(r, v)
			r.query = nil
		}}
	}
	return out
}

func sweepAsPost(r sweepReq) sweepReq {
	r.method, r.form, r.query = http.MethodPost, r.query, nil
	return r
}

func sweepJSONMember(k string) sweepSet {
	return sweepSet{"JSON " + k, func(r *sweepReq, _ string) { r.json[k] = sweepMarker }}
}

func sweepJSONList(k string) sweepSet {
	return sweepSet{"JSON " + k + "[0]", func(r *sweepReq, _ string) { r.json[k] = []any{sweepMarker} }}
}

func sweepClaim(k string) sweepSet {
	return sweepSet{"assertion claim " + k, func(r *sweepReq, _ string) { r.claims[k] = sweepMarker }}
}

func sweepBasicUser() sweepSet {
	return sweepSet{"Basic user", func(r *sweepReq, v string) { r.user = v }}
}

func sweepBasicPass() sweepSet {
	return sweepSet{"Basic password", func(r *sweepReq, v string) { r.pass = v }}
}

func sweepBearer() sweepSet {
	return sweepSet{"Bearer token", func(r *sweepReq, v string) { r.bearer = v }}
}

func sweepCookieValue(i int) sweepSet {
	return sweepSet{"cookie value", func(r *sweepReq, v string) { r.cookies[i][1] = v }}
}

func sweepPathSegment(prefix string) sweepSet {
	return sweepSet{"path segment", func(r *sweepReq, v string) { r.path = prefix + url.PathEscape(v) }}
}

// ---- requests ----

// sweepReq is one HTTP request. JSON bodies and signed claims hold sweepMarker where
// the value goes (v), written as raw bytes (a NUL as \u0000, other bytes as they are), so
// that invalid UTF-8 reaches the server's decoder.
type sweepReq struct {
	method, path string // path is escaped
	query, form  url.Values
	json         map[string]any
	basic        bool
	user, pass   string
	bearer       string
	cookies      [][2]string
	origin       string
	claims       map[string]any              // signed into form[claimField] by sign
	claimField   string                      // the form field of the signed claims
	sign         func(payload []byte) string // signs the claims
	v            string                      // the value sweepMarker stands for
}

// sweepRawJSON marshals x and puts the value where sweepMarker stands.
func sweepRawJSON(x any, v string) []byte {
	b, err := json.Marshal(x)
	if err != nil {
		panic(err)
	}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\x00", `\u0000`, "\n", `\n`).Replace(v)
	return bytes.ReplaceAll(b, []byte(sweepMarker), []byte(esc))
}

func (f *sweepFixture) send(r sweepReq) (int, error) {
	u := f.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	if r.claims != nil && r.form.Get(r.claimField) == "" { // unless the value went there
		r.form.Set(r.claimField, r.sign(sweepRawJSON(r.claims, r.v)))
	}
	var body io.Reader
	ctype := ""
	switch {
	case r.json != nil:
		body, ctype = bytes.NewReader(sweepRawJSON(r.json, r.v)), "application/json"
	case r.form != nil:
		body, ctype = strings.NewReader(r.form.Encode()), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(r.method, u, body)
	if err != nil {
		return 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if r.basic {
		// RFC 6749 §2.3.1: form-encoded, then Base64.
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(r.user)+":"+url.QueryEscape(r.pass))))
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if len(r.cookies) > 0 {
		var parts []string
		for _, c := range r.cookies {
			parts = append(parts, c[0]+"="+c[1])
		}
		req.Header.Set("Cookie", strings.Join(parts, "; ")) // as sent, not sanitized by http.Cookie
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
	}
	resp, err := f.hc.Do(req)
	if err != nil && strings.Contains(err.Error(), "invalid header field value") {
		return f.sendRaw(req) // a header value net/http's client refuses to send
	}
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// sendRaw writes req on a fresh connection as it is.
func (f *sweepFixture) sendRaw(req *http.Request) (int, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.base, "http://"))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	req.Close = true
	if err := req.Write(conn); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// ---- the server and its credentials ----

type sweepFixture struct {
	t              *testing.T
	jwt            bool // JWT access tokens (RFC 9068)
	base           string
	st             *teststack.Stack
	hc             *http.Client
	logs           *syncbuf.Buffer
	pub, conf      *provider.Client
	confPost, pkj  *provider.Client
	confSecret     string
	confPostSecret string
	clientKey      *ecdsa.PrivateKey // the private_key_jwt client's
	idpKey         *ecdsa.PrivateKey
	idpIssuer      string
}

// sweepKeys is an ID-JAG issuer's key set, without a server.
type sweepKeys struct{ key *ecdsa.PrivateKey }

func (k sweepKeys) VerificationKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if kid != "idp-key" {
		return nil, fmt.Errorf("%w: %q", jwtaccess.ErrUnknownKey, kid)
	}
	return &jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}, nil
}

func newSweepFixture(t *testing.T, store *gormstore.Store, server string) *sweepFixture {
	t.Helper()
	f := &sweepFixture{t: t, jwt: server == "jwt", logs: &syncbuf.Buffer{}, idpIssuer: "https://idp.example.com"}
	var jwtTokens *mcp.JWTAccessTokens
	if f.jwt {
		jwtTokens = &mcp.JWTAccessTokens{Enabled: true}
	}
	var c *compat.Options
	if server == "strict" {
		strict := compat.Strict()
		c = &strict
	}
	var err error
	if f.clientKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if f.idpKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{AddSource: true, Level: slog.LevelWarn}))
	many := ratelimit.PerMinute(1_000_000, 1_000_000)
	f.st = teststack.Start(t, teststack.Options{
		Store:      store,
		RootIssuer: true,
		Resources:  []resourceserver.Resource{{URL: teststack.Origin + "/mcp", Name: "Test", Scopes: []string{"tools", "admin"}, DefaultScopes: []string{"tools"}}},
		Logger:     logger,
		Authenticator: provider.AuthenticatorFunc(func(_ context.Context, user, pass string) (string, error) {
			if user == "alice" && pass == sweepPassword {
				return "alice", nil
			}
			return "", errors.New("wrong username or password")
		}),
		Provider: func(cfg *provider.Config) {
			cfg.EnableClientCredentials = true
			cfg.DeviceAuthorization = &provider.DeviceAuthorizationOptions{}
			v, err := idjag.New(idjag.Options{
				Audience: cfg.Issuer,
				IdPs:     []idjag.TrustedIdP{{Issuer: f.idpIssuer, Keys: sweepKeys{f.idpKey}}},
				Logger:   logger,
			})
			if err != nil {
				t.Fatal(err)
			}
			cfg.IdentityAssertions = &provider.IdentityAssertionGrant{Validator: v, IssueRefreshTokens: true}
		},
		ClientIDMetadataDocuments: &mcp.ClientIDMetadataDocuments{Enabled: true},
		JWTAccessTokens:           jwtTokens,
		Compat:                    c,
		RateLimits: &mcp.RateLimits{Authorize: many, Login: many, Token: many, Revocation: many,
			Introspection: many, Registration: many, UserCode: many},
		MCP: func(_ *teststack.Stack, cfg *mcp.Config) {
			cfg.Registration = &registration.Options{
				GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials", provider.GrantTypeDeviceCode},
			}
		},
		// A panic is a 500 with its stack in the log, not a dropped connection.
		Wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() {
					if v := recover(); v != nil {
						logger.Error("PANIC", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
						w.WriteHeader(http.StatusInternalServerError)
					}
				}()
				h.ServeHTTP(w, r)
			})
		},
	})
	f.base = f.st.Base
	f.hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := f.st.Mount(f.st.MCPURL, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") })); err != nil {
		t.Fatal(err)
	}
	p := f.st.Provider
	ctx := t.Context()
	if f.pub, _, err = p.CreateClient(ctx, provider.ClientSpec{ID: "sweep-public", Name: "Public", Public: true, RedirectURIs: []string{sweepRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token", provider.GrantTypeDeviceCode, provider.GrantTypeJWTBearer}}); err != nil {
		t.Fatal(err)
	}
	if f.conf, f.confSecret, err = p.CreateClient(ctx, provider.ClientSpec{ID: "sweep-basic", Name: "Basic", RedirectURIs: []string{sweepRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials", provider.GrantTypeDeviceCode}}); err != nil {
		t.Fatal(err)
	}
	if f.confPost, f.confPostSecret, err = p.CreateClient(ctx, provider.ClientSpec{ID: "sweep-post", Name: "Post",
		TokenEndpointAuthMethod: provider.AuthMethodClientSecretPost, GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	if f.pkj, _, err = p.CreateClient(ctx, provider.ClientSpec{ID: "sweep-pkjwt", Name: "Keys",
		TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, GrantTypes: []string{"client_credentials"},
		JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.clientKey.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *sweepFixture) publicJWK(kid string) map[string]any {
	b, _ := json.Marshal(jose.JSONWebKey{Key: &f.clientKey.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func sweepMetadata() map[string]any {
	return map[string]any{"client_name": "Sweep", "redirect_uris": []any{sweepRedirect}, "token_endpoint_auth_method": "none",
		"grant_types": []any{"authorization_code", "refresh_token"}}
}

// sweepSigner signs payloads with key under kid as typ.
func sweepSigner(t *testing.T, key *ecdsa.PrivateKey, kid, typ string) func([]byte) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithHeader("kid", kid).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	return func(payload []byte) string {
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
}

func (f *sweepFixture) privateKeyJWT() sweepReq {
	now := time.Now()
	return sweepReq{method: http.MethodPost, path: "/token",
		form: url.Values{"grant_type": {"client_credentials"}, "scope": {"tools"}, "resource": {f.base + "/mcp"}, "client_id": {f.pkj.ID},
			"client_assertion_type": {provider.ClientAssertionType}},
		claims: map[string]any{"iss": f.pkj.ID, "sub": f.pkj.ID, "aud": f.base + "/token", "jti": rand.Text(),
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()},
		claimField: "client_assertion", sign: sweepSigner(f.t, f.clientKey, "k1", "JWT")}
}

func (f *sweepFixture) idJAG() sweepReq {
	now := time.Now()
	return sweepReq{method: http.MethodPost, path: "/token",
		form: url.Values{"grant_type": {provider.GrantTypeJWTBearer}, "client_id": {f.pub.ID}},
		claims: map[string]any{"iss": f.idpIssuer, "sub": "alice", "aud": f.base, "client_id": f.pub.ID, "jti": rand.Text(),
			"resource": f.base + "/mcp", "scope": "tools", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()},
		claimField: "assertion", sign: sweepSigner(f.t, f.idpKey, "idp-key", idjag.Type)}
}

// do sends a request of the fixture's own (setting up credentials) and decodes JSON.
func (f *sweepFixture) do(hc *http.Client, req *http.Request, v any) *http.Response {
	f.t.Helper()
	if hc == nil {
		hc = f.hc
	}
	resp, err := hc.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			f.t.Fatalf("%s %s: %d %q: %v", req.Method, req.URL, resp.StatusCode, body, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

func (f *sweepFixture) postForm(path string, form url.Values, user, pass string, v any) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return f.do(nil, req, v)
}

func sweepVerifier() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func (f *sweepFixture) authorizeReq(clientID string) sweepReq {
	_, challenge := sweepVerifier()
	return sweepReq{method: http.MethodGet, path: "/authorize", query: url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {sweepRedirect}, "scope": {"tools offline_access"},
		"state": {"st-123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {f.base + "/mcp"},
	}}
}

var sweepCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// sweepLogin is a pending authorization request shown on the login page in a browser.
type sweepLogin struct {
	get, post sweepReq
	verifier  string
}

func (f *sweepFixture) loginPage(clientID string) sweepLogin {
	f.t.Helper()
	verifier, challenge := sweepVerifier()
	r := f.authorizeReq(clientID)
	r.query.Set("code_challenge", challenge)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, f.base+"/authorize?"+r.query.Encode(), nil)
	resp := f.do(browser, req, nil)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		f.t.Fatalf("authorize: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	loc = req.URL.ResolveReference(loc)
	req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
	page, _ := io.ReadAll(f.do(browser, req, nil).Body)
	m := sweepCSRF.FindSubmatch(page)
	if m == nil {
		f.t.Fatalf("no CSRF token on the login page: %s", page)
	}
	var cookies [][2]string
	for _, c := range jar.Cookies(loc) {
		cookies = append(cookies, [2]string{c.Name, c.Value})
	}
	id := loc.Query().Get(provider.LoginRequestParam)
	return sweepLogin{
		get: sweepReq{method: http.MethodGet, path: loc.Path, query: url.Values{provider.LoginRequestParam: {id}}, cookies: cookies},
		post: sweepReq{method: http.MethodPost, path: loc.Path, cookies: cookies, form: url.Values{provider.LoginRequestParam: {id},
			"csrf_token": {string(m[1])}, "action": {"approve"}, "username": {"alice"}, "password": {sweepPassword}}},
		verifier: verifier,
	}
}

// code runs the code flow through the login page and returns a fresh code and verifier.
func (f *sweepFixture) code(clientID string) (string, string) {
	f.t.Helper()
	l := f.loginPage(clientID)
	req, _ := http.NewRequest(http.MethodPost, f.base+l.post.path, strings.NewReader(l.post.form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range l.post.cookies {
		req.AddCookie(&http.Cookie{Name: c[0], Value: c[1]})
	}
	resp := f.do(nil, req, nil)
	back, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || back == nil || back.Query().Get("code") == "" {
		f.t.Fatalf("login: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return back.Query().Get("code"), l.verifier
}

func (f *sweepFixture) codeExchange(clientID, secret string) sweepReq {
	code, verifier := f.code(clientID)
	r := sweepReq{method: http.MethodPost, path: "/token", form: url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {sweepRedirect}, "resource": {f.base + "/mcp"}}}
	if secret == "" {
		r.form.Set("client_id", clientID)
	} else {
		r.basic, r.user, r.pass = true, clientID, secret
	}
	return r
}

func (f *sweepFixture) tokens(clientID string) teststack.Tokens {
	f.t.Helper()
	secret := ""
	if clientID == f.conf.ID {
		secret = f.confSecret
	}
	r := f.codeExchange(clientID, secret)
	var tok teststack.Tokens
	if resp := f.postForm("/token", r.form, r.user, r.pass, &tok); resp.StatusCode != http.StatusOK || tok.RefreshToken == "" {
		f.t.Fatalf("code exchange: %d", resp.StatusCode)
	}
	return tok
}

func (f *sweepFixture) clientCredentials() sweepReq {
	return sweepReq{method: http.MethodPost, path: "/token", form: url.Values{"grant_type": {"client_credentials"}, "scope": {"tools"}, "resource": {f.base + "/mcp"}},
		basic: true, user: f.conf.ID, pass: f.confSecret}
}

func (f *sweepFixture) ccToken() string {
	f.t.Helper()
	r := f.clientCredentials()
	var tok teststack.Tokens
	if resp := f.postForm("/token", r.form, r.user, r.pass, &tok); resp.StatusCode != http.StatusOK {
		f.t.Fatalf("client_credentials: %d", resp.StatusCode)
	}
	return tok.AccessToken
}

// accessToken is an access token of the public client for the MCP endpoint, got once.
func (f *sweepFixture) accessToken() string {
	return f.tokens(f.pub.ID).AccessToken
}

// deviceAuthorization starts a device flow for the public client, approved by alice
// when approve; it returns the device and user codes.
func (f *sweepFixture) deviceAuthorization(approve bool) (string, string) {
	f.t.Helper()
	var d struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	if resp := f.postForm("/device_authorization", url.Values{"client_id": {f.pub.ID}, "scope": {"tools offline_access"}, "resource": {f.base + "/mcp"}}, "", "", &d); resp.StatusCode != http.StatusOK {
		f.t.Fatalf("device authorization: %d", resp.StatusCode)
	}
	if approve {
		p := f.st.Provider
		dr, err := p.DeviceRequest(f.t.Context(), d.UserCode)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := p.ApproveDevice(f.t.Context(), d.UserCode, "alice", dr.Scopes); err != nil {
			f.t.Fatal(err)
		}
	}
	return d.DeviceCode, d.UserCode
}

// devicePage is a POST of the verification page for a fresh user code, with the page's
// cookie and CSRF token.
func (f *sweepFixture) devicePage(action string) sweepReq {
	f.t.Helper()
	_, userCode := f.deviceAuthorization(false)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	req, _ := http.NewRequest(http.MethodGet, f.base+"/device", nil)
	page, _ := io.ReadAll(f.do(browser, req, nil).Body)
	m := sweepCSRF.FindSubmatch(page)
	if m == nil {
		f.t.Fatalf("no CSRF token on the device page: %s", page)
	}
	var cookies [][2]string
	for _, c := range jar.Cookies(req.URL) {
		cookies = append(cookies, [2]string{c.Name, c.Value})
	}
	return sweepReq{method: http.MethodPost, path: "/device", cookies: cookies, form: url.Values{provider.UserCodeParam: {userCode},
		"csrf_token": {string(m[1])}, "action": {action}, "username": {"alice"}, "password": {sweepPassword}}}
}

func (f *sweepFixture) register() regResponse { return f.registerWith(sweepMetadata()) }

func (f *sweepFixture) registerWith(meta map[string]any) regResponse {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.base+"/register", bytes.NewReader(sweepRawJSON(meta, "")))
	req.Header.Set("Content-Type", "application/json")
	var out regResponse
	if resp := f.do(nil, req, &out); resp.StatusCode != http.StatusCreated {
		f.t.Fatalf("registration: %d %s", resp.StatusCode, out.Error)
	}
	return out
}
