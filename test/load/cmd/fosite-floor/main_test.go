package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The test binary doubles as the server child, as the command's own binary does.
func TestMain(m *testing.M) {
	if journal, ok := os.LookupEnv(childEnv); ok {
		os.Exit(serveChild(context.Background(), journal, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// A full run: the child serves, each level prints its rate and the server's CPU per
// refresh, and with -journal every rotation left a line in the file.
func TestRun_PrintsEachLevelAndJournals(t *testing.T) {
	journal := filepath.Join(t.TempDir(), "journal")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-c", "1,4", "-duration", "300ms", "-journal", journal}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	line := regexp.MustCompile(`(?m)^c=(\d+) +\d+ refreshes/s  server CPU \d+\.\d{3} ms/refresh  \((\d+) in `)
	got := line.FindAllStringSubmatch(stdout.String(), -1)
	if len(got) != 2 || got[0][1] != "1" || got[1][1] != "4" {
		t.Fatalf("stdout %q: want a line for c=1 and one for c=4", stdout.String())
	}
	raw, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(raw), "\n"); lines == 0 {
		t.Errorf("journal empty after %q", stdout.String())
	}
}

// Rotation is real: the refresh token a rotation replaced is refused afterwards
// (RFC 6749 §10.4 as fosite implements it), so the floor measures the same work as a
// rotating server, not a replay.
func TestServer_RFC6749_10_4_RotatedTokenRefused(t *testing.T) {
	srv := httptest.NewServer(newServer(nil))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/seed?n=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	if err := json.NewDecoder(resp.Body).Decode(&tokens); err != nil || len(tokens) != 1 {
		t.Fatalf("seed: %v %v", tokens, err)
	}
	resp.Body.Close()
	ctx := context.Background()
	next, err := rotate(ctx, srv.Client(), srv.URL, tokens[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotate(ctx, srv.Client(), srv.URL, tokens[0]); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("replayed refresh token: %v, want invalid_grant", err)
	}
	if _, err := rotate(ctx, srv.Client(), srv.URL, next); err == nil {
		t.Errorf("the replay should have revoked the whole chain (fosite's reuse detection), but its newest token still rotates")
	}
}

func TestRun_RefusesBadFlagsWithExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "0"}, "want numbers from 1"},
		{[]string{"-c", "eight"}, "want numbers from 1"},
		{[]string{"-duration", "2m"}, "at most 1m"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
