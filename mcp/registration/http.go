package registration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider"

	"github.com/fosite-mcp/fosite-mcp/mcp/internal/quote"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// readRequest decodes a JSON registration or update request, enforcing the content type
// and the body size cap. Unknown members are ignored (RFC 7591 §2).
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request) (*ClientRegistrationRequest, int, *Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType, metadataError("the request body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, metadataError(fmt.Sprintf("the request body exceeds %d bytes", h.opts.MaxBodyBytes))
		}
		return nil, http.StatusBadRequest, metadataError("the request body could not be read")
	}
	req, rerr := decodeRequest(body)
	if rerr != nil {
		return nil, http.StatusBadRequest, rerr
	}
	return req, 0, nil
}

// decodeRequest parses a request body: exactly one JSON object, members of the wrong type
// refused with the member's name (never its value).
func decodeRequest(body []byte) (*ClientRegistrationRequest, *Error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, metadataError("the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var req ClientRegistrationRequest
	if err := dec.Decode(&req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			field := strings.TrimPrefix(typeErr.Field, "ClientMetadata.")
			if field == "redirect_uris" {
				return nil, redirectError("redirect_uris must be an array of strings")
			}
			return nil, metadataError(fmt.Sprintf("member %q has the wrong type (expected %s)", field, typeErr.Type))
		}
		return nil, metadataError("the request body is not valid JSON")
	}
	if dec.More() {
		return nil, metadataError("the request body must hold a single JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, metadataError("the request body must hold a single JSON object")
	}
	return &req, nil
}

// writeJSON writes v with the headers RFC 7591 §3.2.1 shows: no caching of credentials.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes an RFC 7591 §3.2.2 error body.
func writeError(w http.ResponseWriter, status int, e *Error) {
	observe.NoteError(w, e.ErrorCode)
	writeJSON(w, status, &Error{ErrorCode: e.ErrorCode, ErrorDescription: provider.ErrorDescription(e.ErrorDescription)})
}

// writeUnauthorized answers 401 with a Bearer challenge (RFC 6750 §3): error="invalid_token"
// when a token was presented, no error code when none was.
func writeUnauthorized(w http.ResponseWriter, presented bool, description string) {
	challenge, code := "Bearer", provider.ErrorCodeUnauthorized
	if presented {
		code = provider.ErrorCodeInvalidToken
		challenge = `Bearer error="` + provider.ErrorCodeInvalidToken + `", error_description=` + quote.String(provider.ErrorDescription(description))
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, &Error{ErrorCode: code, ErrorDescription: description})
}

// bearerToken returns the token of a Bearer Authorization header, or "" when there is
// none (another scheme, or a malformed header, counts as none).
func bearerToken(r *http.Request) string {
	v := r.Header.Values("Authorization")
	if len(v) != 1 {
		return ""
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(v[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimLeft(token, " ")
}
