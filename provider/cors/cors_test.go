package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPreflight_EchoesOnlyValidHeaderLists(t *testing.T) {
	p := Policy{Methods: "POST, OPTIONS", ExposeHeaders: "WWW-Authenticate"}
	for _, tc := range []struct{ requested, want string }{
		{"", DefaultAllowHeaders},
		{"Authorization, X-Custom", "Authorization, X-Custom"},
		{"bad header\r\nx: y", DefaultAllowHeaders},
		{"a,,b", DefaultAllowHeaders},
		{strings.Repeat("a,", 600) + "a", DefaultAllowHeaders},
	} {
		r := httptest.NewRequest(http.MethodOptions, "/", nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		if tc.requested != "" {
			r.Header["Access-Control-Request-Headers"] = []string{tc.requested}
		}
		w := httptest.NewRecorder()
		if !p.Handle(w, r) {
			t.Fatal("Handle did not answer OPTIONS")
		}
		h := w.Result().Header
		if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" ||
			h.Get("Allow") != "POST, OPTIONS" || h.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" || h.Get("Access-Control-Max-Age") != "86400" {
			t.Errorf("preflight answer %d %v", w.Code, h)
		}
		if got := h.Get("Access-Control-Allow-Headers"); got != tc.want {
			t.Errorf("requested %q: Allow-Headers %q, want %q", tc.requested, got, tc.want)
		}
	}
}

func TestHandle_NonPreflightGetsHeadersOnly(t *testing.T) {
	w := httptest.NewRecorder()
	if (Policy{}).Handle(w, httptest.NewRequest(http.MethodPost, "/", nil)) {
		t.Fatal("Handle answered a POST")
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Vary") != "Origin" {
		t.Errorf("headers %v", w.Header())
	}
	r := httptest.NewRequest(http.MethodOptions, "/", nil)
	if IsPreflight(r) {
		t.Error("OPTIONS without Origin is not a preflight")
	}
	r.Header.Set("Origin", "https://a.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	if !IsPreflight(r) {
		t.Error("a real preflight was not recognised")
	}
}
