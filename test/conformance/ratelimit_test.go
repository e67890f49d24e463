package conformance

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A 429 with a short Retry-After is waited out and the request (with its body) resent;
// one beyond the limit, or without Retry-After, is returned as it is.
func TestRetryOn429(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/once" && calls.Add(1) == 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case r.URL.Path == "/long":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			_, _ = w.Write(body)
		}
	}))
	defer srv.Close()
	hc := &http.Client{Transport: retryOn429{next: http.DefaultTransport, maxWait: 5 * time.Second}}
	start := time.Now()
	resp, err := hc.Post(srv.URL+"/once", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "payload" || calls.Load() != 2 || time.Since(start) < time.Second {
		t.Fatalf("after a 429: %d %q, %d calls, %v", resp.StatusCode, body, calls.Load(), time.Since(start))
	}
	resp, err = hc.Get(srv.URL + "/long")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a Retry-After beyond the wait limit: %d; want the 429 itself", resp.StatusCode)
	}
}
