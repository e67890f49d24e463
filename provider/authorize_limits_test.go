package provider_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// pendingRows returns the number of pending authorizations and the largest stored
// (encrypted) row, in bytes.
func pendingRows(t *testing.T, e *env) (rows, maxBytes int64) {
	t.Helper()
	var r struct{ N, Max int64 }
	if err := e.store.DB().Raw("SELECT COUNT(*) AS n, COALESCE(MAX(LENGTH(data)), 0) AS max FROM oauth_pending_authorizations").Scan(&r).Error; err != nil {
		t.Fatal(err)
	}
	return r.N, r.Max
}

// junk returns n parameters junk0…junk{n-1} of size bytes each.
func junk(n, size int) url.Values {
	v := url.Values{}
	for i := 0; i < n; i++ {
		v.Set(fmt.Sprintf("junk%d", i), strings.Repeat("x", size))
	}
	return v
}

// Issue 14 finding 3: a pending authorization stored the whole request form, so junk
// parameters went to storage. Only the parameters the flow needs are kept, and the
// flow still completes.
func TestIssue14Finding3_PendingAuthorizationStoresOnlyFlowParameters(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50123/callback"
		q, verifier := e.authorizeParams(redirect, url.Values{"state": {"st-finding-3"}})
		extra := junk(60, 100) // ~6.6 KB of parameters nobody reads, under the size cap
		for k, v := range extra {
			q[k] = v
		}
		if n := len(q.Encode()); n > 8192 {
			t.Fatalf("test request is %d bytes, over the cap", n)
		}
		id, browser := e.pending(q)
		pending, err := e.store.GetPendingAuthorization(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{"response_type": true, "client_id": true, "redirect_uri": true, "scope": true,
			"state": true, "code_challenge": true, "code_challenge_method": true, "resource": true}
		for k := range pending.Form {
			if !allowed[k] {
				t.Errorf("pending authorization stored parameter %q", k)
			}
		}
		if got := pending.Form.Get("state"); got != "st-finding-3" {
			t.Errorf("stored state %q", got)
		}
		rows, size := pendingRows(t, e)
		if rows != 1 || size > 1024 {
			t.Errorf("pending rows %d, largest %d bytes; want 1 row under 1 KiB (the junk alone is %d bytes)", rows, size, len(extra.Encode()))
		}

		u, err := e.p.Approve(browser, id, testSubject, []string{"read"})
		if err != nil {
			t.Fatal(err)
		}
		cb, _ := url.Parse(u)
		if cb.Query().Get("state") != "st-finding-3" || cb.Query().Get("code") == "" {
			t.Fatalf("approve redirect %s", u)
		}
		resp, tok := e.exchange(cb.Query().Get("code"), verifier, redirect, nil)
		if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("token: %d %+v", resp.StatusCode, tok)
		}
		if in := e.introspect(tok.AccessToken); !in.Active || in.Scope != "read" || len(in.Aud) != 1 || in.Aud[0] != e.resource {
			t.Errorf("introspection %+v", in)
		}
	}, withLogin())
}

// Issue 14 finding 3: an ~850 KB authorization request was accepted and stored. A
// query or body over MaxAuthorizationRequestBytes is refused (414 / 400,
// invalid_request) before anything is parsed or stored.
func TestIssue14Finding3_OversizedAuthorizationRequestRefused(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		q, _ := e.authorizeParams("http://localhost:50123/callback", nil)
		for k, v := range junk(850, 1000) {
			q[k] = v
		}
		req, _ := http.NewRequest(http.MethodGet, e.issuer+"/authorize?"+q.Encode(), nil)
		req.Header.Set("Accept", "application/json")
		wantJSONError(t, e.do(req), http.StatusRequestURITooLong, "invalid_request")

		post, _ := http.NewRequest(http.MethodPost, e.issuer+"/authorize", strings.NewReader(q.Encode()))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		post.Header.Set("Accept", "application/json")
		wantJSONError(t, e.do(post), http.StatusBadRequest, "invalid_request")

		// The HTML error page (browsers) carries the same error.
		resp := e.get(e.issuer + "/authorize?" + q.Encode())
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestURITooLong || !strings.Contains(string(body), "invalid_request") {
			t.Errorf("HTML answer %d %.200s", resp.StatusCode, body)
		}
		if rows, _ := pendingRows(t, e); rows != 0 {
			t.Errorf("%d pending authorizations stored, want 0", rows)
		}
	}, withLogin())
}

// Issue 14 finding 3: the number of `resource` and scope values is capped.
func TestIssue14Finding3_ResourceAndScopeCountsCapped(t *testing.T) {
	runEnv(t, func(t *testing.T, e *env) {
		redirect := "http://localhost:50123/callback"
		var resources []string
		for i := 0; i <= 16; i++ {
			resources = append(resources, fmt.Sprintf("%s?n=%d", e.resource, i))
		}
		var scopes []string
		for i := 0; i <= 64; i++ {
			scopes = append(scopes, fmt.Sprintf("s%d", i))
		}
		for _, tc := range []struct {
			name  string
			extra url.Values
			want  string
		}{
			{"too many resources", url.Values{"resource": resources}, "invalid_request"},
			{"too many scopes", url.Values{"scope": {strings.Join(scopes, " ")}}, "invalid_scope"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.authorize(redirect, tc.extra)
				if got := r.redirect.Query().Get("error"); got != tc.want {
					t.Errorf("error %q, want %q (%s)", got, tc.want, r.redirect)
				}
			})
		}
		if rows, _ := pendingRows(t, e); rows != 0 {
			t.Errorf("%d pending authorizations stored, want 0", rows)
		}
	}, withLogin())
}
