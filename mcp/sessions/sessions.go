// Package sessions bounds the MCP sessions of a streamable HTTP MCP server (go-sdk's
// StreamableHTTPHandler, mcp-go's StreamableHTTPServer) that sits behind this module's
// bearer middleware. The adapters mcp/gosdk and mcp/mcpgo put a [Guard] in front of the
// SDK handler by default; use this package directly only to tune it ([Options]).
//
// Every MCP initialize creates a session that the SDK keeps in memory with its
// initialize payload until the client deletes it or it times out. Without a bound, one
// valid token can create sessions faster than they expire. A Guard:
//
//   - pins each session to the user whose token created it: another user's token with
//     that Mcp-Session-Id gets 403, an unknown session ID 404 (the MCP transport's
//     answer, upon which clients start a new session); the same holds for the sessions
//     of the older HTTP+SSE transport (2024-11-05: mcp-go's SSEServer, go-sdk's
//     SSEHandler), named by the sessionId (sessionid) query parameter of their message
//     URL, which neither SDK ties to a user;
//   - bounds the live sessions per user ([Options.MaxPerSubject]) and in total
//     ([Options.MaxTotal]) by closing the least recently used one when a new session
//     would exceed a bound (see [Options] for why it evicts rather than refuses);
//   - closes sessions idle for [Options.IdleTimeout];
//   - closes, within [Options.RevalidateInterval], sessions whose latest access token
//     was revoked (its grant revoked, RFC 7009, or refresh token reuse detected);
//   - caps request bodies at [Options.MaxBodyBytes], and initialize requests (which the
//     SDK keeps for the session's life) at [Options.MaxInitializeBytes], with 413 and a
//     JSON-RPC error.
//
// Sessions are closed through the SDK's own API: a DELETE with the session's ID and its
// owner's identity, handled by the SDK handler exactly like a client's DELETE. An
// HTTP+SSE session lives as long as its GET stream; closing it ends the stream.
package sessions

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// HeaderSessionID is the MCP streamable HTTP transport's session header.
const HeaderSessionID = "Mcp-Session-Id"

// Defaults of [Options].
const (
	// DefaultMaxPerSubject bounds the sessions of one user: enough for many MCP hosts
	// and reconnects of one person, far from the thousands a loop can open.
	DefaultMaxPerSubject = 64
	// DefaultMaxTotal bounds all sessions: at ~20 KiB each (go-sdk) about 200 MiB.
	DefaultMaxTotal = 10000
	// DefaultIdleTimeout closes sessions without requests for this long.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultRevalidateInterval is how often the token behind an idle session is
	// verified again, so that sessions of revoked grants end.
	DefaultRevalidateInterval = time.Minute
	// DefaultMaxBodyBytes caps MCP request bodies (go-sdk's own default is 4 MiB);
	// MCP messages are small JSON-RPC objects.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxInitializeBytes caps initialize requests: client name, version and
	// capabilities fit in a few hundred bytes, and the SDK keeps them (several times
	// over, ~4× measured with go-sdk) for the session's life.
	DefaultMaxInitializeBytes = 64 << 10
)

// closeTimeout bounds a session close (the DELETE to the SDK) and one re-verification.
const closeTimeout = 10 * time.Second

// Options configures a [Guard]. The zero value (and a nil *Options) means every default;
// a negative value turns the bound off.
type Options struct {
	// MaxPerSubject is how many live sessions one user (the token's subject, or its
	// client ID for tokens without one) may have; a new session beyond it closes the
	// user's least recently used session. Default DefaultMaxPerSubject (64).
	//
	// Eviction rather than refusal: an MCP client that loses its session (a restarted
	// host, a crashed process) simply opens a new one, and the session it abandoned is
	// the least recently used; refusing would lock the user out until the abandoned
	// sessions idle out. An evicted session's next request gets 404, upon which MCP
	// clients start a new session (streamable HTTP transport, session management).
	MaxPerSubject int
	// MaxTotal is how many live sessions all users together may have; a new session
	// beyond it closes the least recently used session of anybody. Default
	// DefaultMaxTotal (10,000). With MaxPerSubject, one user cannot evict others' sessions
	// unless MaxTotal/MaxPerSubject users fill the server; active sessions are the
	// most recently used and go last.
	MaxTotal int
	// IdleTimeout closes sessions that received no request for this long (requests in
	// flight, such as an open GET stream, keep a session alive). Default
	// DefaultIdleTimeout (30 minutes). The SDK's own idle timeout, if set, applies too.
	IdleTimeout time.Duration
	// RevalidateInterval is how long a session may go without its latest access token
	// being verified: a session idle for longer has its token verified again (each
	// distinct token once per round) and is closed when the token is refused as
	// invalid, that is revoked, since expired tokens are skipped. Default
	// DefaultRevalidateInterval (1 minute). With locally verified JWT access tokens
	// (mcp.JWTAccessTokens without CheckRevocation) revocation is not visible before
	// the token expires: such a session keeps working until its token expires, then
	// ends after IdleTimeout, since the revoked grant cannot be refreshed.
	RevalidateInterval time.Duration
	// MaxBodyBytes caps a request body: larger ones get 413 with a JSON-RPC error,
	// before the SDK (or a per-tool scope check) reads them. Default
	// DefaultMaxBodyBytes (1 MiB). A smaller SDK limit (go-sdk's
	// StreamableHTTPOptions.MaxRequestBodyBytes) still applies.
	MaxBodyBytes int64
	// MaxInitializeBytes caps an initialize request (a POST that opens a session): a
	// larger one gets 413 with a JSON-RPC error. The SDKs keep the initialize
	// parameters for the session's life, so this, not MaxBodyBytes, bounds what a session
	// holds (64 sessions of a user with 1 MiB client names took ~300 MB in the demo).
	// Default DefaultMaxInitializeBytes (64 KiB).
	MaxInitializeBytes int64
	// Logger receives a line per closed session (reason and subject, never a token or
	// session ID); nil means slog.Default().
	Logger *slog.Logger
}

// resolved returns o with the defaults filled in.
func (o *Options) resolved() Options {
	var r Options
	if o != nil {
		r = *o
	}
	r.MaxPerSubject = cmp.Or(r.MaxPerSubject, DefaultMaxPerSubject)
	r.MaxTotal = cmp.Or(r.MaxTotal, DefaultMaxTotal)
	r.IdleTimeout = cmp.Or(r.IdleTimeout, DefaultIdleTimeout)
	r.RevalidateInterval = cmp.Or(r.RevalidateInterval, DefaultRevalidateInterval)
	r.MaxBodyBytes = cmp.Or(r.MaxBodyBytes, DefaultMaxBodyBytes)
	r.MaxInitializeBytes = cmp.Or(r.MaxInitializeBytes, DefaultMaxInitializeBytes)
	r.Logger = cmp.Or(r.Logger, slog.Default())
	return r
}

// Closer closes the session id of owner: it hands the SDK handler a DELETE for it as if
// owner had sent it. [Guard.Wrap] takes one from adapters whose SDK needs more than
// [DeleteRequest] to recognize the session's user.
type Closer func(ctx context.Context, id string, owner *oauth.AccessToken)

// Guard bounds the sessions of the MCP handlers it wraps; see the package documentation.
// Make it with [New]; it is safe for concurrent use.
type Guard struct {
	v    resourceserver.AccessTokenVerifier
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	byID      map[string]*entry
	lru       list.List             // every session, most recently used first
	bySubject map[string]*list.List // each user's sessions, most recently used first
	timer     *time.Timer           // the next sweep; nil when none is due
	sweeping  bool                  // a sweep runs; it arms the next one when done
}

// entry is one live session. It holds its owner's latest access token, to verify it again
// (it is never logged).
type entry struct {
	id, subject string
	close       Closer // of the handler that created it
	token       string
	at          *oauth.AccessToken
	verified    time.Time // when token was last verified
	used        time.Time // when the latest request started or ended
	inflight    int
	all, own    *list.Element
}

// New returns a Guard with opts that verifies the tokens of sessions again with v (the
// verifier of the bearer middleware in front of it). The handlers it guards are
// given to [Guard.Wrap]; the bounds apply to all of them together.
func New(v resourceserver.AccessTokenVerifier, opts *Options) (*Guard, error) {
	if v == nil {
		return nil, errors.New("sessions: a token verifier is required")
	}
	o := opts.resolved()
	return &Guard{v: v, opts: o, log: o.Logger, byID: map[string]*entry{}, bySubject: map[string]*list.List{}}, nil
}

// Len returns the number of live sessions the Guard knows of.
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.byID)
}

// LimitBody returns next behind the body cap: a request whose Content-Length exceeds
// MaxBodyBytes gets 413 at once; other bodies are cut at MaxBodyBytes, which
// [Guard.Wrap] turns into 413. Put it in front of the bearer middleware so that a
// per-tool scope check never reads more.
func (g *Guard) LimitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.opts.MaxBodyBytes > 0 && r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > g.opts.MaxBodyBytes {
				g.tooLarge(w, g.opts.MaxBodyBytes)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// tooLarge answers 413 with a JSON-RPC error naming limit and closes the connection (the
// rest of the body may be unread).
func (g *Guard) tooLarge(w http.ResponseWriter, limit int64) {
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit))
}

// Wrap returns next, the SDK's streamable HTTP handler, behind the Guard. It must run
// behind the bearer middleware (it reads the verified token with resourceserver.TokenFromContext;
// a request without one gets 401). close closes next's sessions; nil means handing next
// a [DeleteRequest] (what mcp-go's StreamableHTTPServer needs).
func (g *Guard) Wrap(next http.Handler, close Closer) http.Handler {
	if close == nil {
		close = func(ctx context.Context, id string, owner *oauth.AccessToken) {
			next.ServeHTTP(&DiscardResponse{}, DeleteRequest(ctx, id, owner))
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, ok := resourceserver.TokenFromContext(r.Context())
		if !ok || at == nil {
			writeError(w, http.StatusUnauthorized, "no verified access token")
			return
		}
		var body []byte
		if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody {
			// Read the body now (within the cap) so that an oversized one gets the same
			// 413 from both SDKs, and an initialize can be recognized.
			rd := r.Body
			if g.opts.MaxBodyBytes > 0 {
				rd = http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes)
			}
			var err error
			body, err = io.ReadAll(rd)
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				g.tooLarge(w, g.opts.MaxBodyBytes)
				return
			}
			if err != nil {
				writeError(w, http.StatusBadRequest, "the request body could not be read")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		token := bearer(r)
		if !namesOneSession(r) {
			// The guard would check one session and the SDK serve another: mcp-go reads
			// sessionId, go-sdk sessionid, the streamable transport the header.
			writeError(w, http.StatusBadRequest, "the request names more than one session")
			return
		}
		id := r.Header.Get(HeaderSessionID)
		if id == "" && r.Method == http.MethodPost {
			id = sseSessionID(r.URL) // a message of the HTTP+SSE transport
		}
		if id == "" && g.opts.MaxInitializeBytes > 0 && int64(len(body)) > g.opts.MaxInitializeBytes && isInitialize(body) {
			g.tooLarge(w, g.opts.MaxInitializeBytes)
			return
		}
		if id == "" {
			rec := &recorder{ResponseWriter: w, onHeader: func(status int, h http.Header) {
				if newID := h.Get(HeaderSessionID); newID != "" && status < 300 {
					g.add(newID, at, token, close)
				}
			}}
			if r.Method == http.MethodGet {
				g.serveSSE(rec, r, next, at, token)
				return
			}
			next.ServeHTTP(rec, r)
			return
		}
		e, status := g.acquire(id, at, token)
		switch status {
		case http.StatusNotFound:
			writeError(w, http.StatusNotFound, "session not found")
			return
		case http.StatusForbidden:
			writeError(w, http.StatusForbidden, "session user mismatch: the session belongs to another user")
			return
		}
		rec := &recorder{ResponseWriter: w, onHeader: func(status int, _ http.Header) {
			if status == http.StatusNotFound || (r.Method == http.MethodDelete && status < 300) {
				g.forget(e) // ended by the SDK (its own idle timeout) or by the client
			}
		}}
		defer g.release(e)
		next.ServeHTTP(rec, r)
	})
}

// serveSSE serves a GET without a session ID, which in the HTTP+SSE transport (MCP
// 2024-11-05; mcp-go's SSEServer, go-sdk's SSEHandler) opens a session for as long as the
// stream lasts: the session's ID is in the first event, "endpoint", whose data is the
// URL for the session's messages. Such a session counts like any other; closing it ends
// the stream.
func (g *Guard) serveSSE(rec *recorder, r *http.Request, next http.Handler, at *oauth.AccessToken, token string) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var e *entry
	var seen []byte
	rec.sniff = func(b []byte) bool {
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			return true
		}
		seen = append(seen, b...)
		id, done := endpointSession(seen)
		if id != "" {
			e = g.add(id, at, token, func(context.Context, string, *oauth.AccessToken) { cancel() })
			g.mu.Lock()
			e.inflight++ // the stream is the session: never idle while it lasts
			g.mu.Unlock()
		}
		return done || len(seen) > maxSniff
	}
	next.ServeHTTP(rec, r.WithContext(ctx))
	if e != nil {
		g.mu.Lock()
		e.inflight--
		g.mu.Unlock()
		g.forget(e) // the SDK ends the session with the stream
	}
}

// maxSniff is how much of an SSE stream's start is searched for the endpoint event.
const maxSniff = 4 << 10

// endpointSession returns the session ID of the endpoint event at the start of an
// HTTP+SSE stream, and whether the search is over (found, or the event is malformed).
func endpointSession(b []byte) (id string, done bool) {
	i := bytes.Index(b, []byte("event: endpoint"))
	if i < 0 {
		return "", false
	}
	rest := b[i:]
	j := bytes.Index(rest, []byte("data:"))
	if j < 0 {
		return "", false
	}
	line := rest[j+len("data:"):]
	k := bytes.IndexAny(line, "\r\n")
	if k < 0 {
		return "", false
	}
	u, err := url.Parse(strings.TrimSpace(string(line[:k])))
	if err != nil {
		return "", true
	}
	return sseSessionID(u), true
}

// sseSessionID returns the session of an HTTP+SSE message URL: mcp-go names the query
// parameter sessionId, go-sdk sessionid.
func sseSessionID(u *url.URL) string {
	q := u.Query()
	if id := q.Get("sessionId"); id != "" {
		return id
	}
	return q.Get("sessionid")
}

// namesOneSession reports whether every session ID r names, in its Mcp-Session-Id
// headers and its URL's sessionId and sessionid parameters, is the same one (or it names
// none). Each SDK reads one of those places, so a request naming two sessions could be
// checked against its sender's session and delivered to another user's.
func namesOneSession(r *http.Request) bool {
	ids := r.Header.Values(HeaderSessionID)
	if r.URL.RawQuery != "" { // most MCP requests have none: nothing to parse
		q := r.URL.Query()
		ids = append(append(slices.Clip(ids), q["sessionId"]...), q["sessionid"]...)
	}
	first := ""
	for _, v := range ids {
		switch {
		case v == "":
		case first == "":
			first = v
		case v != first:
			return false
		}
	}
	return true
}

// isInitialize reports whether body is a JSON-RPC initialize request. Member names
// match case-insensitively, more than an SDK's decoder may: a doubtful body counts.
func isInitialize(body []byte) bool {
	var m struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &m) == nil && m.Method == "initialize"
}

// subject is the user a token stands for, as go-sdk's TokenInfo.UserID.
func subject(at *oauth.AccessToken) string {
	if at.Subject != "" {
		return at.Subject
	}
	return at.ClientID
}

// bearer returns the token of the Authorization header the bearer middleware accepted.
func bearer(r *http.Request) string {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// add records a new session and closes the sessions it pushes over a bound.
func (g *Guard) add(id string, at *oauth.AccessToken, token string, close Closer) *entry {
	now := time.Now()
	sub := subject(at)
	g.mu.Lock()
	if old := g.byID[id]; old != nil {
		g.unlink(old) // the SDK reused an ID: the old session is gone
	}
	e := &entry{id: id, subject: sub, close: close, token: token, at: at, verified: now, used: now}
	g.byID[id] = e
	e.all = g.lru.PushFront(e)
	own := g.bySubject[sub]
	if own == nil {
		own = list.New()
		g.bySubject[sub] = own
	}
	e.own = own.PushFront(e)
	type victim struct {
		e      *entry
		reason string
	}
	var victims []victim
	for g.opts.MaxPerSubject > 0 && own.Len() > g.opts.MaxPerSubject {
		v := own.Back().Value.(*entry)
		g.unlink(v)
		victims = append(victims, victim{v, "per-user session limit"})
	}
	for g.opts.MaxTotal > 0 && g.lru.Len() > g.opts.MaxTotal {
		v := g.lru.Back().Value.(*entry)
		g.unlink(v)
		victims = append(victims, victim{v, "total session limit"})
	}
	g.scheduleLocked()
	g.mu.Unlock()
	if len(victims) > 0 {
		// Close outside the SDK's request: this runs inside its WriteHeader.
		go func() {
			for _, v := range victims {
				g.closeSession(v.e, v.reason)
			}
		}()
	}
	return e
}

// acquire finds session id for a request with token at: http.StatusOK and the entry
// (marked in flight), or 404 (unknown) or 403 (another user's).
func (g *Guard) acquire(id string, at *oauth.AccessToken, token string) (*entry, int) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.byID[id]
	switch {
	case e == nil:
		return nil, http.StatusNotFound
	case e.subject != subject(at):
		return nil, http.StatusForbidden
	}
	e.token, e.at, e.verified, e.used = token, at, now, now
	e.inflight++
	g.touchLocked(e)
	return e, http.StatusOK
}

// release ends a request of e.
func (g *Guard) release(e *entry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e.inflight--
	e.used = time.Now()
	if g.byID[e.id] == e {
		g.touchLocked(e)
	}
}

// touchLocked makes e the most recently used session.
func (g *Guard) touchLocked(e *entry) {
	if g.byID[e.id] != e {
		return
	}
	g.lru.MoveToFront(e.all)
	if own := g.bySubject[e.subject]; own != nil {
		own.MoveToFront(e.own)
	}
}

// forget drops e without closing it (the SDK already did).
func (g *Guard) forget(e *entry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byID[e.id] == e {
		g.unlink(e)
	}
}

// unlink removes e from every index; g.mu is held.
func (g *Guard) unlink(e *entry) {
	delete(g.byID, e.id)
	g.lru.Remove(e.all)
	if own := g.bySubject[e.subject]; own != nil {
		own.Remove(e.own)
		if own.Len() == 0 {
			delete(g.bySubject, e.subject)
		}
	}
}

// closeSession asks the SDK to close e (already unlinked).
func (g *Guard) closeSession(e *entry, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	e.close(ctx, e.id, e.at)
	g.log.Info("mcp session closed", "reason", reason, "subject", e.subject)
}

// tick is how often the sweep runs: often enough for both the idle timeout and
// revalidation; 0 when neither is on.
func (g *Guard) tick() time.Duration {
	var t time.Duration
	if g.opts.IdleTimeout > 0 {
		t = g.opts.IdleTimeout / 2
	}
	if r := g.opts.RevalidateInterval; r > 0 && (t == 0 || r < t) {
		t = r
	}
	if t > 0 && t < 10*time.Millisecond {
		t = 10 * time.Millisecond
	}
	return t
}

// scheduleLocked arms the sweep when sessions exist and none is armed; g.mu is held.
func (g *Guard) scheduleLocked() {
	if g.timer != nil || g.sweeping || len(g.byID) == 0 {
		return
	}
	if t := g.tick(); t > 0 {
		g.timer = time.AfterFunc(t, g.sweep)
	}
}

// sweep closes idle sessions and sessions whose token was revoked, then re-arms itself
// while sessions are left.
func (g *Guard) sweep() {
	now := time.Now()
	type check struct {
		e     *entry
		token string
	}
	var idle []*entry
	var checks []check
	g.mu.Lock()
	g.timer, g.sweeping = nil, true
	for _, e := range g.byID {
		switch {
		case e.inflight == 0 && g.opts.IdleTimeout > 0 && now.Sub(e.used) >= g.opts.IdleTimeout:
			idle = append(idle, e)
		case g.opts.RevalidateInterval > 0 && now.Sub(e.verified) >= g.opts.RevalidateInterval &&
			e.token != "" && now.Before(e.at.ExpiresAt):
			checks = append(checks, check{e, e.token})
		}
	}
	for _, e := range idle {
		g.unlink(e)
	}
	g.mu.Unlock()
	for _, e := range idle {
		g.closeSession(e, "idle")
	}
	revoked := map[string]bool{} // each distinct token is verified once
	for _, c := range checks {
		bad, seen := revoked[c.token]
		if !seen {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			_, err := g.v.VerifyAccessToken(ctx, c.token)
			cancel()
			if err != nil && !errors.Is(err, oauth.ErrInvalidToken) {
				// Storage trouble: no verdict on this or the remaining tokens; try
				// again next round rather than wait out each one.
				g.log.Warn("mcp sessions: verifying tokens again failed", "err", err)
				break
			}
			bad = err != nil
			revoked[c.token] = bad
		}
		g.mu.Lock()
		current := g.byID[c.e.id] == c.e && c.e.token == c.token
		if current && bad {
			g.unlink(c.e)
		} else if current {
			c.e.verified = now
		}
		g.mu.Unlock()
		if current && bad {
			g.closeSession(c.e, "access token revoked")
		}
	}
	g.mu.Lock()
	g.sweeping = false
	g.scheduleLocked()
	g.mu.Unlock()
}

// recorder calls onHeader with the status and headers of the response before they are
// sent. It keeps http.Flusher and http.ResponseController working (streams need them).
type recorder struct {
	http.ResponseWriter
	onHeader func(status int, h http.Header)
	wrote    bool
	// sniff, when set, sees what is written until it returns true.
	sniff func(b []byte) bool
}

func (r *recorder) header(status int) {
	if !r.wrote {
		r.wrote = true
		r.onHeader(status, r.ResponseWriter.Header())
	}
}

// WriteHeader implements http.ResponseWriter.
func (r *recorder) WriteHeader(status int) {
	if status >= 200 { // 1xx are interim
		r.header(status)
	}
	r.ResponseWriter.WriteHeader(status)
}

// Write implements http.ResponseWriter.
func (r *recorder) Write(b []byte) (int, error) {
	r.header(http.StatusOK)
	if r.sniff != nil && r.sniff(b) {
		r.sniff = nil
	}
	return r.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (r *recorder) Flush() {
	r.header(http.StatusOK)
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying ResponseWriter (for http.ResponseController).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// writeError answers with a JSON-RPC error response without an ID (the request was not
// processed) and an HTTP status, as the MCP transports answer transport-level errors.
func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": -32600, "message": message},
	})
}

// DiscardResponse is an http.ResponseWriter that keeps nothing, for the DELETE requests
// a [Closer] hands the SDK.
type DiscardResponse struct{ h http.Header }

// Header implements http.ResponseWriter.
func (d *DiscardResponse) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}

// Write implements http.ResponseWriter.
func (d *DiscardResponse) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader implements http.ResponseWriter.
func (d *DiscardResponse) WriteHeader(int) {}

// DeleteRequest returns the DELETE request that closes session id, for a [Closer]: it
// carries the session ID and owner in its context (resourceserver.ContextWithToken) for adapters
// whose SDK reads the user from there.
func DeleteRequest(ctx context.Context, id string, owner *oauth.AccessToken) *http.Request {
	r, _ := http.NewRequestWithContext(resourceserver.ContextWithToken(ctx, owner), http.MethodDelete, "/", nil)
	r.Header.Set(HeaderSessionID, id)
	return r
}
