package teststack_test

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestStart_ErrorClosesListeners: when the stack cannot start (here: no storage, so
// mcp.New refuses), the listener it was given is closed, not leaked.
func TestStart_ErrorClosesListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	st, err := teststack.New(t.Context(), teststack.Conformance(nil, teststack.ConformanceOptions{Listener: ln, OtherResource: true}))
	if err == nil {
		st.Close()
		t.Fatal("Start without storage succeeded")
	}
	// A listener left open would block in Accept: the deadline turns that into a failure.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on the given listener after a failed Start: %v, want net.ErrClosed", err)
	}
}

// TestRecorder_CredentialsNeverByValue: the recorder (Options.Record) sees a whole
// login, with the code, the verifier and the tokens recorded as present, never by value,
// so a failing test's transcript leaks no credential.
func TestRecorder_CredentialsNeverByValue(t *testing.T) {
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		const resource = "https://mcp.example.com/mcp"
		opts := teststack.Bare(s, []string{resource}, nil)
		opts.Record = true
		st := teststack.Start(t, opts)
		tok, err := st.Tokens(teststack.DefaultSubject, "files:read", resource)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Revoke(teststack.DefaultSubject, tok.RefreshToken); err != nil {
			t.Fatal(err)
		}
		st.Recorder.ExpectSequence(t,
			teststack.Step{Method: http.MethodGet, Suffix: provider.AuthorizePath, Status: teststack.AnyRedirect},
			teststack.Step{Method: http.MethodPost, Suffix: provider.TokenPath, Status: http.StatusOK},
			teststack.Step{Method: http.MethodPost, Suffix: provider.RevocationPath, Status: http.StatusOK})
		exchange := st.Recorder.At(provider.TokenPath, "authorization_code")
		if len(exchange) != 1 || exchange[0].Params.Get("code") != "(present)" || exchange[0].Params.Get("code_verifier") != "(present)" {
			t.Fatalf("code exchange recorded as %v", exchange)
		}
		for _, e := range st.Recorder.All() {
			if s := e.String(); strings.Contains(s, tok.AccessToken) || strings.Contains(s, tok.RefreshToken) {
				t.Errorf("a token recorded by value: %s", s)
			}
		}
	})
}

// TestStart_OtherOrigin: a resource on OtherOrigin is served by a second server with
// its RFC 9728 metadata, and the authorization server is not on it.
func TestStart_OtherOrigin(t *testing.T) {
	st := teststack.Start(t, teststack.Options{
		Resources: []resourceserver.Resource{{URL: teststack.OtherOrigin + "/mcp", Name: "elsewhere"}},
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }),
	})
	if st.OtherBase == "" || st.OtherBase == st.Base || st.MCPURL != st.OtherBase+"/mcp" {
		t.Fatalf("Base %s, OtherBase %s, MCPURL %s", st.Base, st.OtherBase, st.MCPURL)
	}
	for u, want := range map[string]int{
		st.OtherBase + resourceserver.WellKnownPath + "/mcp": http.StatusOK,
		st.MCPURL: http.StatusUnauthorized, // behind the bearer middleware
		st.OtherBase + "/.well-known/oauth-authorization-server/oauth": http.StatusNotFound,
		st.Issuer + provider.AuthorizePath:                             http.StatusBadRequest, // on the stack's own origin
	} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}
}
