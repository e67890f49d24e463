package sessions

import (
	"net/http/httptest"
	"testing"
)

// namesOneSession: one session named anywhere, or the same one in several places, passes;
// two different ones fail; empty values name nothing.
func TestNamesOneSession(t *testing.T) {
	for _, tc := range []struct {
		url, header string
		want        bool
	}{
		{"/mcp", "", true},
		{"/mcp", "a", true},
		{"/mcp?sessionId=a", "a", true},
		{"/mcp?sessionid=a&sessionId=a", "", true},
		{"/mcp?sessionid=a", "", true},
		{"/mcp?sessionid=b", "a", false},
		{"/mcp?sessionId=a&sessionid=b", "", false},
		{"/mcp?sessionid=a&sessionid=b", "", false},
		{"/mcp?sessionid=&sessionId=a", "", true},
		{"/mcp?other=1", "a", true},
	} {
		r := httptest.NewRequest("POST", tc.url, nil)
		if tc.header != "" {
			r.Header.Set(HeaderSessionID, tc.header)
		}
		if got := namesOneSession(r); got != tc.want {
			t.Errorf("%s with header %q: %v, want %v", tc.url, tc.header, got, tc.want)
		}
	}
	r := httptest.NewRequest("POST", "/mcp?sessionId=a", nil)
	r.Header[HeaderSessionID] = []string{""} // an empty header value names nothing
	if !namesOneSession(r) {
		t.Error("an empty header beside sessionId=a: refused")
	}
}
