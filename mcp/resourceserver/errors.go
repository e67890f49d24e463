package resourceserver

import (
	"encoding/json"
	"net/http"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// ErrorResponse is the JSON body of a refused request: an OAuth error code and a
// description for developers.
type ErrorResponse struct {
	// Error is the error code, e.g. "invalid_token".
	Error string `json:"error"`
	// ErrorDescription explains the error; it never contains a token.
	ErrorDescription string `json:"error_description,omitempty"`
}

func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorResponse{Error: code, ErrorDescription: oauth.ErrorDescription(description)})
}
