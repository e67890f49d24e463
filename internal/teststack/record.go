package teststack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp"
)

// Event is one request the servers saw. Credentials (codes, tokens, secrets, verifiers)
// are recorded as present, never by value.
type Event struct {
	// Method and Path are the request's method and URL path.
	Method, Path string
	// Status is the response status.
	Status int
	// Challenge is the response's WWW-Authenticate header.
	Challenge string
	// Params are the query (GET) or form body (POST) parameters.
	Params url.Values
	// JSON is a JSON request body (registration requests).
	JSON map[string]any
	// Basic says the request carried HTTP Basic client credentials.
	Basic bool
}

// String is the event on one line, for failure messages.
func (e Event) String() string {
	return fmt.Sprintf("%s %s → %d %v %v %s", e.Method, e.Path, e.Status, e.Params, e.JSON, e.Challenge)
}

// Recorder records every request through Wrap (Options.Record).
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

var credentialParams = []string{"code", "code_verifier", "refresh_token", "client_secret", "token", "access_token"}

// Wrap records every request to next.
func (rec *Recorder) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := Event{Method: r.Method, Path: r.URL.Path, Params: r.URL.Query()}
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Basic ") {
			e.Basic = true
		}
		if r.Method == http.MethodPost && r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			switch ct := r.Header.Get("Content-Type"); {
			case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
				e.Params, _ = url.ParseQuery(string(body))
			case strings.HasPrefix(ct, "application/json") && strings.Contains(r.URL.Path, mcp.RegistrationPath):
				_ = json.Unmarshal(body, &e.JSON)
			}
		}
		for _, p := range credentialParams {
			if e.Params.Has(p) {
				e.Params.Set(p, "(present)")
			}
		}
		// The event is recorded when the response header is written, before the client
		// can see any of the response, so a test never misses a request its client saw
		// answered.
		sw := &statusWriter{ResponseWriter: w, record: func(status int, h http.Header) {
			e.Status, e.Challenge = status, h.Get("WWW-Authenticate")
			rec.mu.Lock()
			rec.events = append(rec.events, e)
			rec.mu.Unlock()
		}}
		next.ServeHTTP(sw, r)
		sw.WriteHeader(http.StatusOK) // if the handler wrote nothing
	})
}

// All returns the events so far.
func (rec *Recorder) All() []Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.events)
}

// At returns the events so far whose path ends in suffix and, if grant is not empty,
// whose grant_type is grant.
func (rec *Recorder) At(suffix, grant string) []Event {
	var out []Event
	for _, e := range rec.All() {
		if strings.HasSuffix(e.Path, suffix) && (grant == "" || e.Params.Get("grant_type") == grant) {
			out = append(out, e)
		}
	}
	return out
}

// ExpectSequence fails t unless the recorded events contain steps in this order (other
// events may come between). Each step matches a method, a path suffix and a status.
func (rec *Recorder) ExpectSequence(t testing.TB, steps ...Step) {
	t.Helper()
	events := rec.All()
	i := 0
	for _, e := range events {
		if i < len(steps) && steps[i].matches(e) {
			i++
		}
	}
	if i < len(steps) {
		var b strings.Builder
		for _, e := range events {
			fmt.Fprintln(&b, "  ", e)
		}
		t.Fatalf("step %d (%v) not seen; the servers saw:\n%s", i, steps[i], b.String())
	}
}

// Step is one step of ExpectSequence: a method, a path suffix and a status.
type Step struct {
	// Method is the request method; Suffix is what the request's path ends with.
	Method, Suffix string
	// Status is the response status, or AnyRedirect.
	Status int
}

// AnyRedirect matches any 3xx status.
const AnyRedirect = -3

func (s Step) matches(e Event) bool {
	status := e.Status == s.Status || s.Status == AnyRedirect && e.Status/100 == 3
	return e.Method == s.Method && strings.HasSuffix(e.Path, s.Suffix) && status
}

// statusWriter reports the status and header of a response when it is written; it keeps
// the writer flushable for SSE streams.
type statusWriter struct {
	http.ResponseWriter
	record func(status int, h http.Header)
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.record(code, w.Header())
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
