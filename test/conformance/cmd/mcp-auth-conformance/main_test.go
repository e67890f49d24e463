package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
	"github.com/fosite-mcp/fosite-mcp/test/conformance"
)

func start(t *testing.T, opts teststack.ConformanceOptions) *teststack.Stack {
	t.Helper()
	return teststack.Start(t, teststack.Conformance(gormtest.Open(t, gormtest.SQLite), opts))
}

func TestRun_TableAndExitStatus(t *testing.T) {
	st := start(t, teststack.ConformanceOptions{})
	var out, errOut bytes.Buffer
	code := run([]string{"-mcp-url", st.MCPURL, "-other-resource", st.OtherURL}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr %s\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{"AS metadata", "pass  AS-META-ISSUER", "pass  REG-CIMD", "WARN  REFRESH-OLD-INVALID", "checks:", "0 failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRun_FormLoginJSON(t *testing.T) {
	st := start(t, teststack.ConformanceOptions{FormLogin: true})
	var out, errOut bytes.Buffer
	code := run([]string{"-mcp-url", st.MCPURL, "-login", "form", "-username", teststack.ConformanceUser, "-password", teststack.ConformancePassword, "-json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr %s\n%s", code, errOut.String(), out.String())
	}
	var rep conformance.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if rep.Summary.Total != len(conformance.Checks()) || rep.Summary.Fail != 0 || rep.Issuer != st.Issuer {
		t.Errorf("summary %+v issuer %q", rep.Summary, rep.Issuer)
	}
	if r, _ := rep.Result("CHAL-VALID-TOKEN"); r.Status != conformance.Pass {
		t.Errorf("CHAL-VALID-TOKEN %s: %s", r.Status, r.Detail)
	}
}

// TestRun_FailureExitsOne: a server dropping Cache-Control from token responses makes
// the command exit 1 and name the failed check.
func TestRun_FailureExitsOne(t *testing.T) {
	st := start(t, teststack.ConformanceOptions{Wrap: func(h http.Handler, _ *teststack.Stack) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				w = noStoreDropper{w}
			}
			h.ServeHTTP(w, r)
		})
	}})
	var out, errOut bytes.Buffer
	if code := run([]string{"-mcp-url", st.MCPURL}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  TOKEN-NO-STORE") {
		t.Errorf("output lacks the failed check:\n%s", out.String())
	}
}

type noStoreDropper struct{ http.ResponseWriter }

func (d noStoreDropper) WriteHeader(code int) {
	d.Header().Del("Cache-Control")
	d.ResponseWriter.WriteHeader(code)
}

func (d noStoreDropper) Write(b []byte) (int, error) {
	d.Header().Del("Cache-Control")
	return d.ResponseWriter.Write(b)
}

func TestRun_Usage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-mcp-url", "http://127.0.0.1:1/mcp", "-login", "magic"},
		{"-mcp-url", "http://127.0.0.1:1/mcp", "-login", "form"},
		{"-mcp-url", "http://127.0.0.1:1/mcp", "-client-id", "x"},
		{"-no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestRun_Unreachable: an MCP URL nobody listens on fails (exit 1), it does not hang.
func TestRun_Unreachable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-mcp-url", "http://127.0.0.1:1/mcp", "-timeout", "20s"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  CHAL-401") {
		t.Errorf("output:\n%s", out.String())
	}
}
