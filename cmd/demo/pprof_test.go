package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPprofLoopbackOnly pins -pprof: the profiles are served on their own loopback
// listener, and any other address is refused before anything listens.
func TestPprofLoopbackOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		if err := servePprof(t.Context(), addr, log); err == nil {
			t.Errorf("servePprof(%q) = nil, want a refusal", addr)
		}
	}

	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := servePprof(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/debug/pprof/)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no pprof URL logged: %s", logs.String())
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET %s: %d %.200s", m[1], resp.StatusCode, body)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Get(m[1]); err != nil {
			break // closed with ctx
		}
		if time.Now().After(deadline) {
			t.Fatal("the pprof listener outlived its context")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
