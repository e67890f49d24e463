package observe

import (
	"net/http"
	"time"
)

// Handler wraps h, the handler of the endpoint named endpoint (an Endpoint… constant),
// so that every request reports a Request event with its status, duration and, when
// the handler called NoteError, OAuth error code. With a nil o it returns h itself.
func Handler(o Observer, endpoint string, h http.Handler) http.Handler {
	if o == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		o.Observe(r.Context(), Event{Kind: Request, Endpoint: endpoint, Status: status, ErrorCode: rec.code, Duration: time.Since(start)})
	})
}

// NoteError records code, the OAuth error code of the response being written to w, for
// the Request event of Handler. It does nothing when w is not observed, so that error
// writers can call it unconditionally.
func NoteError(w http.ResponseWriter, code string) {
	for w != nil {
		if rec, ok := w.(*recorder); ok {
			rec.code = code
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// recorder remembers the status and the OAuth error code of a response.
type recorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush implements http.Flusher when the underlying writer does.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
