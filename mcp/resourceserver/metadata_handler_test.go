package resourceserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const testIssuer = "https://auth.example.com"

// newMetadataServer starts a loopback server serving the metadata of the resources that
// build returns for the server's base URL.
func newMetadataServer(t *testing.T, opts *MetadataOptions, build func(base string) []Resource) (*httptest.Server, *Registry) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	reg, err := NewRegistry(build(srv.URL)...)
	if err != nil {
		t.Fatal(err)
	}
	mh, err := NewMetadataHandler(testIssuer, reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(WellKnownPath, mh)
	mux.Handle(WellKnownPath+"/", mh)
	h = mux
	return srv, reg
}

func get(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// RFC 9728 §2 and §3: the document's members, at the path-inserted well-known URL.
func TestMetadataHandler_RFC9728_3(t *testing.T) {
	srv, _ := newMetadataServer(t, nil, func(base string) []Resource {
		return []Resource{{URL: base + "/mcp", Name: "Files", Scopes: []string{"files:read", "offline_access", "files:write"}}}
	})
	resp, body := get(t, http.MethodGet, srv.URL+"/.well-known/oauth-protected-resource/mcp", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":                "application/json",
		"Cache-Control":               DefaultMetadataCacheControl,
		"Access-Control-Allow-Origin": "*",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 srv.URL + "/mcp",
		"authorization_servers":    []any{testIssuer},
		"scopes_supported":         []any{"files:read", "files:write"}, // never offline_access
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "Files",
	}
	if len(m) != len(want) {
		t.Errorf("members = %v, want exactly %v", m, want)
	}
	for k, v := range want {
		if got, _ := json.Marshal(m[k]); string(got) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(v))
		}
	}
	if strings.Contains(body, "null") {
		t.Errorf("body contains null: %s", body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// RFC 9728 §3.3: the client checks that resource equals the URL it used. This runs go-sdk's
// own discovery code against the handler.
func TestMetadataHandler_RFC9728_3_3_GoSDKClientAccepts(t *testing.T) {
	srv, _ := newMetadataServer(t, nil, func(base string) []Resource {
		return []Resource{{URL: base + "/mcp", Scopes: []string{"s"}}}
	})
	resource := srv.URL + "/mcp"
	murl, err := MetadataURL(resource)
	if err != nil {
		t.Fatal(err)
	}
	prm, err := oauthex.GetProtectedResourceMetadata(context.Background(), murl, resource, srv.Client())
	if err != nil {
		t.Fatalf("go-sdk rejected the metadata: %v", err)
	}
	if prm.Resource != resource || len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != testIssuer {
		t.Errorf("go-sdk parsed %+v", prm)
	}
}

// RFC 9728 §3 (and MCP): the path-based document, the root document when there is exactly
// one resource, tolerated trailing slashes, several resources, unknown paths.
func TestMetadataHandler_RFC9728_3_Paths(t *testing.T) {
	t.Run("single resource also at root", func(t *testing.T) {
		srv, _ := newMetadataServer(t, nil, func(base string) []Resource {
			return []Resource{{URL: base + "/mcp"}}
		})
		for _, p := range []string{"/mcp", "/mcp/", "", "/"} {
			resp, body := get(t, http.MethodGet, srv.URL+WellKnownPath+p, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"resource":"`+srv.URL+`/mcp"`) {
				t.Errorf("%q: %d %s", p, resp.StatusCode, body)
			}
		}
		for _, p := range []string{"/other", "/mcp/x", "/mc"} {
			if resp, _ := get(t, http.MethodGet, srv.URL+WellKnownPath+p, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%q: status %d, want 404", p, resp.StatusCode)
			}
		}
	})
	t.Run("several resources", func(t *testing.T) {
		srv, _ := newMetadataServer(t, nil, func(base string) []Resource {
			return []Resource{{URL: base + "/a/mcp", Name: "A"}, {URL: base + "/b/mcp", Name: "B"}}
		})
		for p, name := range map[string]string{"/a/mcp": "A", "/b/mcp/": "B"} {
			resp, body := get(t, http.MethodGet, srv.URL+WellKnownPath+p, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"resource_name":"`+name+`"`) {
				t.Errorf("%q: %d %s", p, resp.StatusCode, body)
			}
		}
		if resp, _ := get(t, http.MethodGet, srv.URL+WellKnownPath, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("root with two resources: status %d, want 404", resp.StatusCode)
		}
	})
	t.Run("resource at the origin", func(t *testing.T) {
		srv, _ := newMetadataServer(t, nil, func(base string) []Resource {
			return []Resource{{URL: base}, {URL: base + "/b"}}
		})
		resp, body := get(t, http.MethodGet, srv.URL+WellKnownPath, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"resource":"`+srv.URL+`"`) {
			t.Errorf("root: %d %s", resp.StatusCode, body)
		}
	})
}

// RFC 9728 §3.1 is a GET; browsers need CORS and HEAD is cheap discovery. Other methods get
// 405 with Allow (RFC 9110 §15.5.6).
func TestMetadataHandler_MethodsAndCORS(t *testing.T) {
	srv, _ := newMetadataServer(t, &MetadataOptions{CacheControl: "no-store"}, func(base string) []Resource {
		return []Resource{{URL: base + "/mcp"}}
	})
	u := srv.URL + WellKnownPath + "/mcp"

	resp, body := get(t, http.MethodHead, u, nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("Cache-Control") != "no-store" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d len=%d cc=%q body=%q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Cache-Control"), body)
	}
	resp, _ = get(t, http.MethodOptions, u, map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
		"Access-Control-Request-Headers": "mcp-protocol-version",
	})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "mcp-protocol-version") {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		resp, _ := get(t, m, u, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s: %d Allow=%q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestNewMetadataHandler_Validation(t *testing.T) {
	reg, _ := NewRegistry(Resource{URL: "https://h/mcp"})
	for _, iss := range []string{"", "auth.example.com", "javascript:alert(1)"} {
		if _, err := NewMetadataHandler(iss, reg, nil); err == nil {
			t.Errorf("issuer %q accepted", iss)
		}
	}
	if _, err := NewMetadataHandler(testIssuer, nil, nil); err == nil {
		t.Error("nil registry accepted")
	}
}
