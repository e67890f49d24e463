package provider

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	corspkg "github.com/fosite-mcp/fosite-mcp/provider/cors"

	"github.com/ory/fosite"
)

// MaxBodyBytes caps request bodies of every endpoint (64 KiB).
const MaxBodyBytes = 64 << 10

// ErrInvalidTarget is the RFC 8707 §2 error: the requested resource is invalid,
// unknown, or not covered by the grant.
var ErrInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource is invalid, missing, unknown, or malformed.",
	CodeField:        http.StatusBadRequest,
}

// errMethodNotAllowed is invalid_request with status 405.
var errMethodNotAllowed = &fosite.RFC6749Error{
	ErrorField:       "invalid_request",
	DescriptionField: "The HTTP method is not allowed on this endpoint.",
	CodeField:        http.StatusMethodNotAllowed,
}

// errorBody is the RFC 6749 §5.2 error response.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// writeJSONError writes err as an RFC 6749 §5.2 JSON error. invalid_client gets 401 with
// a Basic challenge (RFC 6749 §5.2); a 503 (temporarily_unavailable) gets Retry-After.
func (p *Provider) writeJSONError(w http.ResponseWriter, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	status := rfc.CodeField
	if status == 0 {
		status = http.StatusBadRequest
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", `Basic realm="`+p.cfg.Issuer+`", charset="UTF-8"`)
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", RetryAfterStorage)
	}
	noteError(w, rfc.ErrorField)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: rfc.ErrorField, ErrorDescription: ErrorDescription(rfc.GetDescription())})
}

// writeJSONBody encodes v into w.
func writeJSONBody(w http.ResponseWriter, v interface{}) {
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSON writes v as JSON with status 200, not to be stored by any cache (RFC 6749
// §5.1: its callers answer with credentials, such as a device code, or a token's state).
func writeJSON(w http.ResponseWriter, v interface{}) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(v)
}

// cors sets the CORS headers of endpoints browsers call cross-origin (metadata, token,
// revocation, introspection) and answers OPTIONS as a preflight, reporting whether it did.
func cors(w http.ResponseWriter, r *http.Request, methods string) bool {
	return corspkg.Policy{Methods: methods}.Handle(w, r)
}

// methodNotAllowed writes 405 with Allow and an RFC 6749 error body.
func (p *Provider) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	p.writeJSONError(w, errMethodNotAllowed.WithHintf("Use %s.", allow))
}

// parsePostForm checks that r is a POST with an application/x-www-form-urlencoded body
// of at most MaxBodyBytes and parses it. Errors are RFC 6749 invalid_request.
func parsePostForm(w http.ResponseWriter, r *http.Request) error {
	if err := checkFormContentType(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fosite.ErrInvalidRequest.WithHint("The request body is too large.")
		}
		return fosite.ErrInvalidRequest.WithHint("The request body is not a valid form.")
	}
	return nil
}

func checkFormContentType(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return fosite.ErrInvalidRequest.WithHint("The request body must be application/x-www-form-urlencoded.")
	}
	return nil
}

// duplicateParam returns the first parameter of form that occurs more than once,
// except those in repeatable (RFC 6749 §3.1: parameters MUST NOT be repeated).
func duplicateParam(form url.Values, repeatable ...string) string {
	for k, v := range form {
		if len(v) > 1 && !slices.Contains(repeatable, k) {
			return k
		}
	}
	return ""
}

// ParseBasicAuth parses an HTTP Authorization header carrying client credentials with
// the Basic scheme (RFC 6749 §2.3.1): base64 of the form-urlencoded client ID, a colon
// and the form-urlencoded secret. The scheme name is case-insensitive.
func ParseBasicAuth(header string) (clientID, secret string, err error) {
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", errors.New("authorization header does not use the Basic scheme")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", "", errors.New("basic credentials are not valid base64")
	}
	id, sec, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("basic credentials lack a colon")
	}
	if clientID, err = url.QueryUnescape(id); err != nil {
		return "", "", errors.New("client ID is not form-urlencoded")
	}
	if secret, err = url.QueryUnescape(sec); err != nil {
		return "", "", errors.New("client secret is not form-urlencoded")
	}
	if clientID == "" {
		return "", "", errors.New("client ID is empty")
	}
	return clientID, secret, nil
}

// checkClientAuthHeader validates the Authorization header and the combination of
// authentication methods of a token, revocation or introspection request. fosite reads
// the credentials itself; this rejects what it would misread.
func checkClientAuthHeader(r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		if len(r.Header.Values("Authorization")) > 0 {
			return fosite.ErrInvalidClient.WithHint("The Authorization header is empty.")
		}
		if r.PostForm.Get("client_id") == "" && r.PostForm.Get("client_assertion") == "" {
			return fosite.ErrInvalidClient.WithHint("No client authentication was included (client_id or an Authorization header).")
		}
		return nil
	}
	if len(r.Header.Values("Authorization")) > 1 {
		return fosite.ErrInvalidRequest.WithHint("The Authorization header must not be repeated.")
	}
	id, _, err := ParseBasicAuth(h)
	if err != nil {
		return fosite.ErrInvalidClient.WithHint("The Authorization header is malformed: " + err.Error() + ".")
	}
	if r.PostForm.Get("client_secret") != "" {
		return fosite.ErrInvalidRequest.WithHint("The client must not use more than one authentication method.")
	}
	if cid := r.PostForm.Get("client_id"); cid != "" && cid != id {
		return fosite.ErrInvalidRequest.WithHint("The client_id parameter does not match the Authorization header.")
	}
	if r.PostForm.Get("client_assertion") != "" || r.PostForm.Get("client_assertion_type") != "" {
		return fosite.ErrInvalidRequest.WithHint("The client must not use more than one authentication method.")
	}
	return nil
}
