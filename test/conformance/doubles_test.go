package conformance_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/conformance"
)

// rewrite returns middleware that buffers the responses of requests matching match and
// lets edit change the header and body before they are sent.
func rewrite(match func(*http.Request) bool, edit func(h http.Header, body []byte) []byte) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !match(r) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := edit(rec.Header(), rec.Body.Bytes())
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	}
}

// editJSON decodes a JSON object body, lets f change it and encodes it again.
func editJSON(f func(m map[string]any)) func(http.Header, []byte) []byte {
	return func(_ http.Header, body []byte) []byte {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return body
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
}

func isPath(suffix string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, suffix) }
}

// doubles are deliberately broken servers: the real stack behind a middleware that
// breaks one requirement, and the checks that must then fail (or warn).
var doubles = []struct {
	name string
	wrap func(http.Handler, *teststack.Stack) http.Handler
	fail []string
	warn []string
}{
	{
		// RFC 9207: iss stripped from every authorization response while still advertised.
		name: "strips iss from authorization responses",
		wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rewrite(func(*http.Request) bool { return true }, func(hd http.Header, b []byte) []byte {
					if loc := hd.Get("Location"); loc != "" {
						if u, err := url.Parse(loc); err == nil {
							q := u.Query()
							q.Del("iss")
							u.RawQuery = q.Encode()
							hd.Set("Location", u.String())
						}
					}
					return b
				})(h).ServeHTTP(w, r)
			})
		},
		// The go-sdk refuses the responses too.
		fail: []string{"ISS-SUCCESS", "ISS-ERROR", "ISS-ADVERTISED", "CLIENT-GOSDK"},
	},
	{
		// PKCE plain advertised and accepted (turned into S256 of the plain challenge).
		name: "advertises and accepts plain",
		wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			meta := rewrite(func(r *http.Request) bool {
				return strings.Contains(r.URL.Path, "/.well-known/") && !strings.Contains(r.URL.Path, "protected-resource")
			},
				editJSON(func(m map[string]any) {
					m["code_challenge_methods_supported"] = []string{"S256", "plain"}
				}))(h)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/authorize") {
					q := r.URL.Query()
					if q.Get("code_challenge_method") == "plain" {
						sum := sha256.Sum256([]byte(q.Get("code_challenge")))
						q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
						q.Set("code_challenge_method", "S256")
						r.URL.RawQuery = q.Encode()
					}
				}
				meta.ServeHTTP(w, r)
			})
		},
		fail: []string{"PKCE-PLAIN-REFUSED"},
		warn: []string{"AS-META-NO-PLAIN"},
	},
	{
		// RFC 8414 §2: private_key_jwt listed for the revocation endpoint without its
		// signing algorithms.
		name: "omits the revocation endpoint's private_key_jwt algorithms",
		wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			return rewrite(func(r *http.Request) bool {
				return strings.Contains(r.URL.Path, "/.well-known/") && !strings.Contains(r.URL.Path, "protected-resource")
			}, editJSON(func(m map[string]any) { delete(m, "revocation_endpoint_auth_signing_alg_values_supported") }))(h)
		},
		fail: []string{"PKJWT-META"},
	},
	{
		// RFC 6749 §5.1: token responses without Cache-Control: no-store.
		name: "drops Cache-Control from token responses",
		wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			return rewrite(isPath("/oauth/token"), func(hd http.Header, b []byte) []byte {
				hd.Del("Cache-Control")
				hd.Del("Pragma")
				return b
			})(h)
		},
		fail: []string{"TOKEN-NO-STORE"},
	},
	{
		// RFC 9728 §3.3: protected resource metadata naming another resource.
		name: "serves metadata for another resource",
		wrap: func(h http.Handler, st *teststack.Stack) http.Handler {
			return rewrite(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, resourceserver.WellKnownPath) },
				editJSON(func(m map[string]any) { m["resource"] = st.MCPURL + "/v2" }))(h)
		},
		// Both real clients refuse such metadata.
		fail: []string{"PRM-RESOURCE", "CLIENT-GOSDK"},
		warn: []string{"CLIENT-MCPGO"},
	},
	{
		// MCP: tokens only in the Authorization header; this one moves a query token there.
		name: "accepts tokens in the query string",
		wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tok := r.URL.Query().Get("access_token"); tok != "" && r.Header.Get("Authorization") == "" {
					r.Header.Set("Authorization", "Bearer "+tok)
					q := r.URL.Query()
					q.Del("access_token")
					r.URL.RawQuery = q.Encode()
				}
				h.ServeHTTP(w, r)
			})
		},
		fail: []string{"CHAL-QUERY-TOKEN"},
	},
	{
		// An MCP endpoint that accepts any bearer token without checking it.
		name: "accepts any bearer token",
		wrap: func(h http.Handler, st *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/mcp" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
					st.Handler.ServeHTTP(w, r)
					return
				}
				h.ServeHTTP(w, r)
			})
		},
		fail: []string{"CHAL-INVALID-TOKEN", "CHAL-REFRESH-AS-ACCESS", "CHAL-AUDIENCE"},
		warn: []string{"CHAL-INVALID-TOKEN-CODE", "CHAL-INSUFFICIENT-SCOPE", "REVOKE-CASCADE", "REVOKE-ACCESS", "TOKEN-CODE-REPLAY-REVOKES"},
	},
	{
		// An authorization server that redirects to any redirect URI of a known client.
		name: "redirects to unregistered redirect URIs",
		wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/authorize") {
					q := r.URL.Query()
					if ru := q.Get("redirect_uri"); strings.Contains(ru, "conformance-other") || strings.Contains(ru, "extra") || strings.Contains(ru, "attacker") {
						q.Set("redirect_uri", "http://127.0.0.1/callback")
						r.URL.RawQuery = q.Encode()
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, r)
						if loc, err := url.Parse(rec.Header().Get("Location")); err == nil && rec.Code/100 == 3 {
							target, _ := url.Parse(ru)
							target.RawQuery = loc.RawQuery
							w.Header().Set("Location", target.String())
							w.WriteHeader(rec.Code)
							return
						}
						w.WriteHeader(rec.Code)
						_, _ = w.Write(rec.Body.Bytes())
						return
					}
				}
				h.ServeHTTP(w, r)
			})
		},
		fail: []string{"REDIR-EXACT", "REDIR-UNREGISTERED", "REDIR-LOOPBACK-HOST"},
	},
	{
		// A token endpoint that ignores the scope of refresh requests: it issues the
		// whole grant whatever the client asks (RFC 6749 §6 forbids the wider half).
		name: "ignores the scope of refresh requests",
		wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/token") && r.ParseForm() == nil && r.PostForm.Get("grant_type") == "refresh_token" {
					r.PostForm.Del("scope")
					body := r.PostForm.Encode()
					r.Body = io.NopCloser(strings.NewReader(body))
					r.ContentLength = int64(len(body))
					r.Form, r.PostForm = nil, nil
				}
				h.ServeHTTP(w, r)
			})
		},
		fail: []string{"REFRESH-SCOPE-WIDEN"},
		warn: []string{"REFRESH-SCOPE-NARROW"},
	},
	{
		// Client ID metadata documents advertised, but a URL client ID is trusted
		// without its document: the authorization server redirects with a code.
		name: "accepts URL client IDs without their documents",
		wrap: func(h http.Handler, st *teststack.Stack) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if id := q.Get("client_id"); strings.HasSuffix(r.URL.Path, "/authorize") && strings.Contains(id, "://") {
					target, err := url.Parse(q.Get("redirect_uri"))
					if err == nil {
						target.RawQuery = url.Values{"code": {"unchecked"}, "state": {q.Get("state")}, "iss": {st.Issuer}}.Encode()
						http.Redirect(w, r, target.String(), http.StatusFound)
						return
					}
				}
				h.ServeHTTP(w, r)
			})
		},
		fail: []string{"REG-CIMD-ENFORCED"},
	},
	{
		// Introspection open to every authenticated client, self-registered ones
		// included: the request goes on with the operator's introspector credentials.
		name: "lets any registered client introspect",
		wrap: func(h http.Handler, st *teststack.Stack) http.Handler {
			var (
				once sync.Once
				rs   *conformance.ClientCredentials
			)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, _, ok := r.BasicAuth(); ok && strings.HasSuffix(r.URL.Path, "/introspect") {
					once.Do(func() {
						c, secret, err := st.Server.Provider().CreateClient(r.Context(), provider.ClientSpec{RedirectURIs: []string{"https://rs.example/cb"}})
						if err == nil {
							rs = &conformance.ClientCredentials{ID: c.ID, Secret: secret}
						}
					})
					if rs != nil {
						r.SetBasicAuth(url.QueryEscape(rs.ID), url.QueryEscape(rs.Secret))
					}
				}
				h.ServeHTTP(w, r)
			})
		},
		warn: []string{"INTRO-SELF-REGISTERED"},
	},
}

// TestConformance_BrokenServers: each deliberately broken server makes exactly the
// matching checks fail (or warn): the suite can fail.
func TestConformance_BrokenServers(t *testing.T) {
	for _, d := range doubles {
		t.Run(d.name, func(t *testing.T) {
			s := gormtest.Open(t, gormtest.SQLite)
			st := newStack(t, s, teststack.ConformanceOptions{Wrap: d.wrap, OtherResource: true})
			rep := runSuite(t, st, conformance.Target{})
			if !rep.Failed() && len(d.fail) > 0 {
				t.Error("the suite passed a broken server")
			}
			want := map[string]conformance.Status{}
			for _, id := range d.fail {
				want[id] = conformance.Fail
			}
			for _, id := range d.warn {
				want[id] = conformance.Warn
			}
			for _, res := range rep.Results {
				if w, listed := want[res.ID]; listed {
					if res.Status != w {
						t.Errorf("%s: %s, want %s: %s %v", res.ID, res.Status, w, res.Detail, res.Evidence)
					}
				} else if !allowed(res, twoResourcesNonPass) {
					t.Errorf("%s: %s, want pass or %v: %s %v", res.ID, res.Status, twoResourcesNonPass[res.ID], res.Detail, res.Evidence)
				}
			}
			if t.Failed() {
				var b bytes.Buffer
				_ = rep.WriteText(&b, nil)
				t.Logf("report:\n%s", b.String())
			}
		})
	}
}
