package jsondoc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/jsondoc"
)

// TestHandler_RFC8414_RFC9728_RFC7517: what every read-only JSON document endpoint (the
// RFC 8414 and RFC 9728 metadata, the RFC 7517 key set) answers, with the default 405
// and with Options.MethodNotAllowed (the provider's OAuth JSON error).
func TestHandler_RFC8414_RFC9728_RFC7517(t *testing.T) {
	doc := []byte(`{"issuer":"https://as.example"}`)
	body := func(r *http.Request) []byte {
		if r.URL.Path != "/doc" {
			return nil
		}
		return doc
	}
	oauth405 := &jsondoc.Options{MethodNotAllowed: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request"})
	}}
	plain := httptest.NewServer(jsondoc.Handler("public, max-age=60", body, nil))
	defer plain.Close()
	oauth := httptest.NewServer(jsondoc.Handler("public, max-age=60", body, oauth405))
	defer oauth.Close()

	// send sends method to url and returns the response and its whole body.
	send := func(t *testing.T, method, url string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
		if err == nil && method == http.MethodOptions { // a CORS preflight
			req.Header.Set("Origin", "http://localhost:6274")
			req.Header.Set("Access-Control-Request-Method", "GET")
		}
		var resp *http.Response
		if err == nil {
			resp, err = http.DefaultClient.Do(req)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	t.Run("GET", func(t *testing.T) {
		resp, b := send(t, http.MethodGet, plain.URL+"/doc")
		h := resp.Header
		if resp.StatusCode != http.StatusOK || b != string(doc) || h.Get("Content-Type") != "application/json" ||
			h.Get("Cache-Control") != "public, max-age=60" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("GET %d %q %v", resp.StatusCode, b, h)
		}
	})
	t.Run("HEAD has the headers and no body", func(t *testing.T) {
		resp, b := send(t, http.MethodHead, plain.URL+"/doc")
		if resp.StatusCode != http.StatusOK || b != "" || resp.ContentLength != int64(len(doc)) {
			t.Fatalf("HEAD %d %q length %d", resp.StatusCode, b, resp.ContentLength)
		}
	})
	t.Run("a nil body is 404", func(t *testing.T) {
		if resp, _ := send(t, http.MethodGet, plain.URL+"/other"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET /other: %d", resp.StatusCode)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		resp, _ := send(t, http.MethodOptions, plain.URL+"/doc")
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Methods") != jsondoc.Allow {
			t.Fatalf("OPTIONS %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("POST is 405 with Allow, plain text by default", func(t *testing.T) {
		resp, b := send(t, http.MethodPost, plain.URL+"/doc")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != jsondoc.Allow ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || strings.Contains(b, "issuer") {
			t.Fatalf("POST %d %v %q", resp.StatusCode, resp.Header, b)
		}
	})
	t.Run("POST is 405 with Allow, written by Options.MethodNotAllowed", func(t *testing.T) {
		resp, b := send(t, http.MethodPost, oauth.URL+"/doc")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != jsondoc.Allow ||
			resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(b, `"invalid_request"`) {
			t.Fatalf("POST %d %v %q", resp.StatusCode, resp.Header, b)
		}
	})
}
