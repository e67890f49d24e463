package conformance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxBody caps how much of a response the suite reads.
const maxBody = 1 << 20

// exchange is one HTTP request and its response, read whole.
type exchange struct {
	method string
	url    string // redacted
	status int
	header http.Header
	body   []byte
	err    error
}

// line renders the exchange as evidence: "POST https://h/token → 400 application/json".
func (e *exchange) line() string {
	if e.err != nil {
		return fmt.Sprintf("%s %s → error: %v", e.method, e.url, e.err)
	}
	s := fmt.Sprintf("%s %s → %d", e.method, e.url, e.status)
	if ct := e.header.Get("Content-Type"); ct != "" {
		s += " " + ct
	}
	if loc := e.header.Get("Location"); loc != "" {
		s += ", Location: " + redactURL(loc)
	}
	return s
}

// withError renders the exchange plus the OAuth error in its JSON body, if any.
func (e *exchange) withError() string {
	s := e.line()
	if code, desc := e.oauthError(); code != "" {
		s += fmt.Sprintf(`, error=%q`, code)
		if desc != "" {
			s += fmt.Sprintf(` error_description=%q`, truncate(desc, 160))
		}
	}
	return s
}

// header renders one response header as evidence.
func (e *exchange) headerLine(name string) string {
	v := e.header.Values(name)
	if len(v) == 0 {
		return name + ": (absent)"
	}
	return name + ": " + truncate(strings.Join(v, ", "), 300)
}

// isJSON reports whether the response's media type is application/json.
func (e *exchange) isJSON() bool {
	mt, _, err := mime.ParseMediaType(e.header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// object decodes the body as a JSON object; nil when it is not one.
func (e *exchange) object() map[string]any {
	if e.err != nil {
		return nil
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(e.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil
	}
	return m
}

// oauthError returns error and error_description of a JSON error body.
func (e *exchange) oauthError() (code, desc string) {
	m := e.object()
	if m == nil {
		return "", ""
	}
	code, _ = m["error"].(string)
	desc, _ = m["error_description"].(string)
	return code, desc
}

// location returns the resolved Location of a redirect, or nil.
func (e *exchange) location() *url.URL {
	if e.err != nil || e.status < 300 || e.status > 399 {
		return nil
	}
	loc := e.header.Get("Location")
	if loc == "" {
		return nil
	}
	base, err := url.Parse(e.rawURL())
	if err != nil {
		return nil
	}
	u, err := base.Parse(loc)
	if err != nil {
		return nil
	}
	return u
}

// rawURL is the request URL; the unredacted form is kept privately for resolution.
func (e *exchange) rawURL() string { return e.url }

// send sends req and reads the response (up to maxBody).
func (r *runner) send(req *http.Request) *exchange {
	ex := &exchange{method: req.Method, url: redactURL(req.URL.String())}
	resp, err := r.hc.Do(req)
	if err != nil {
		ex.err = err
		r.log.Debug("request failed", "method", req.Method, "url", ex.url, "err", err)
		return ex
	}
	defer resp.Body.Close()
	ex.status = resp.StatusCode
	ex.header = resp.Header
	ex.body, ex.err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	r.log.Debug("request", "method", req.Method, "url", ex.url, "status", ex.status)
	return ex
}

// get sends a GET with the given headers (name, value pairs).
func (r *runner) get(ctx context.Context, u string, hdr ...string) *exchange {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &exchange{method: http.MethodGet, url: redactURL(u), err: err}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return r.send(req)
}

// postForm sends an application/x-www-form-urlencoded POST, with HTTP Basic credentials
// when basicUser is non-empty.
func (r *runner) postForm(ctx context.Context, u string, form url.Values, basicUser, basicPass string) *exchange {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return &exchange{method: http.MethodPost, url: redactURL(u), err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basicUser != "" {
		// RFC 6749 §2.3.1: form-urlencode id and secret before base64.
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(basicUser)+":"+url.QueryEscape(basicPass))))
	}
	return r.send(req)
}

// postJSON sends a JSON POST of body (raw bytes).
func (r *runner) postJSON(ctx context.Context, u string, body []byte, hdr ...string) *exchange {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return &exchange{method: http.MethodPost, url: redactURL(u), err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return r.send(req)
}

// secretParams are query and form parameters never shown in evidence.
var secretParams = map[string]bool{
	"code": true, "access_token": true, "refresh_token": true, "client_secret": true,
	"code_verifier": true, "token": true, "registration_access_token": true,
	"password": true, "csrf_token": true, "id_token": true,
}

// redactURL replaces the values of secret query parameters with "[redacted]".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	q := u.Query()
	changed := false
	for k := range q {
		if secretParams[k] {
			q[k] = []string{"[redacted]"}
			changed = true
		}
	}
	if !changed {
		return raw
	}
	u.RawQuery = strings.ReplaceAll(q.Encode(), "%5Bredacted%5D", "[redacted]")
	return u.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// challenge is one parsed WWW-Authenticate challenge (RFC 9110 §11.6.1).
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenges parses WWW-Authenticate header values into challenges. It accepts
// auth-params (token=token / token=quoted-string); a token68 is kept under "".
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		s := v
		var cur *challenge
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			// Read a token.
			i := 0
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			if i == 0 { // garbage: skip a character
				s = s[1:]
				continue
			}
			tok := s[:i]
			rest := strings.TrimLeft(s[i:], " \t")
			if strings.HasPrefix(rest, "=") && cur != nil && !strings.HasPrefix(rest, "==") {
				// auth-param
				rest = strings.TrimLeft(rest[1:], " \t")
				var val string
				if strings.HasPrefix(rest, `"`) {
					val, rest = readQuoted(rest)
				} else {
					j := 0
					for j < len(rest) && isTokenChar(rest[j]) {
						j++
					}
					val, rest = rest[:j], rest[j:]
				}
				cur.params[strings.ToLower(tok)] = val
				s = rest
				continue
			}
			if cur != nil && len(cur.params) == 0 && strings.HasPrefix(rest, "=") {
				// token68 with padding
				j := 0
				for j < len(rest) && rest[j] == '=' {
					j++
				}
				cur.params[""] = tok + rest[:j]
				s = rest[j:]
				continue
			}
			out = append(out, challenge{scheme: tok, params: map[string]string{}})
			cur = &out[len(out)-1]
			s = rest
		}
	}
	return out
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0
}

// readQuoted reads a quoted-string at the start of s and returns its value and the rest.
func readQuoted(s string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}

// bearerChallenge returns the Bearer challenge of a response, if any.
func bearerChallenge(e *exchange) (challenge, bool) {
	if e.header == nil {
		return challenge{}, false
	}
	for _, c := range parseChallenges(e.header.Values("WWW-Authenticate")) {
		if strings.EqualFold(c.scheme, "Bearer") {
			return c, true
		}
	}
	return challenge{}, false
}

// nullMembers returns the names of members of the JSON object body whose value is null,
// at the top level.
func nullMembers(body []byte) []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var out []string
	for k, v := range m {
		if strings.TrimSpace(string(v)) == "null" {
			out = append(out, k)
		}
	}
	return sortedStrings(out)
}
