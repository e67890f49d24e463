package registration_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// env is a registration endpoint over real HTTP on a real store.
type env struct {
	t        *testing.T
	store    *gormstore.Store
	h        *registration.Handler
	srv      *httptest.Server
	endpoint string
}

var testScopes = []string{"files:read", "files:write"}

// newEnv serves a registration handler configured by opts (Endpoint, SupportedScopes and
// Logger filled in when empty) at /register on a loopback server.
func newEnv(t *testing.T, s *gormstore.Store, opts registration.Options) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	e := &env{t: t, store: s, srv: srv, endpoint: "http://" + srv.Listener.Addr().String() + "/register"}
	if opts.Endpoint == "" {
		opts.Endpoint = e.endpoint
	}
	if opts.SupportedScopes == nil {
		opts.SupportedScopes = testScopes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := registration.NewHandler(s, opts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	e.h = h
	mux := http.NewServeMux()
	mux.Handle("/register", h)
	mux.Handle("/register/", h)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return e
}

type result struct {
	status int
	header http.Header
	raw    string
	info   registration.ClientRegistrationResponse
	err    registration.Error
}

// do sends a request with a JSON content type (unless header says otherwise).
func (e *env) do(method, url, body string, header map[string]string) result {
	e.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.StatusCode < 300 {
		_ = json.Unmarshal(raw, &r.info)
	} else {
		_ = json.Unmarshal(raw, &r.err)
	}
	return r
}

func (e *env) register(body string) result {
	e.t.Helper()
	return e.do(http.MethodPost, e.endpoint, body, nil)
}

// mustRegister registers body and fails the test unless the answer is 201.
func (e *env) mustRegister(body string) registration.ClientRegistrationResponse {
	e.t.Helper()
	r := e.register(body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("register: %d %s", r.status, r.raw)
	}
	return r.info
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
