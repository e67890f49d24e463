package conformance

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"sort"
	"strings"
	"time"
)

// runner holds the state of one Run.
type runner struct {
	t       Target
	hc      *http.Client
	log     *slog.Logger
	login   LoginDriver
	results map[string]*Result

	// Discovered.
	mcpURL    string
	chal      *challenge // the 401 challenge, when one came
	prm       map[string]any
	issuer    string
	asm       map[string]any // AS metadata
	endpoints struct {
		authorize, token, registration, revocation, introspection string
	}
	scopes []string // scopes requested by flows

	// Clients.
	main       *testClient // flows (public, or the pre-registered client)
	second     *testClient // another public client (cross-client checks)
	confid     *testClient // a confidential client (Basic auth)
	selfConfid *testClient // the confidential client the suite registered itself, if any
	registered []*testClient
	// tokens to revoke at the end: (client, token)
	issued []issuedToken

	issSent  bool // iss seen on some authorization response
	issSeen  bool // an authorization response was seen at all
	stopping bool
}

type issuedToken struct {
	c     *testClient
	token string
}

func newRunner(t Target) *runner {
	r := &runner{t: t, results: map[string]*Result{}, mcpURL: t.MCPURL}
	r.log = t.Logger
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	base := t.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 30 * time.Second}
	}
	hc := *base
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if hc.Jar == nil {
		hc.Jar, _ = cookiejar.New(nil)
	}
	if t.RateLimitWait >= 0 {
		wait := t.RateLimitWait
		if wait == 0 {
			wait = DefaultRateLimitWait
		}
		next := hc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		hc.Transport = retryOn429{next: next, maxWait: wait}
	}
	r.hc = &hc
	r.login = t.Login
	if r.login == nil {
		r.login = AutoApprove{}
	}
	if r.t.Concurrency <= 0 {
		r.t.Concurrency = 10
	}
	return r
}

// run runs every area in order and assembles the report.
func (r *runner) run(ctx context.Context) Report {
	start := time.Now()
	areas := []struct {
		name string
		fn   func(context.Context)
	}{
		{"discovery", r.discover},
		{"registration", r.registration},
		{"flow", r.basicFlow},
		{"challenges", r.challenges},
		{"pkce", r.pkce},
		{"redirect", r.redirects},
		{"resource", r.resources},
		{"iss", r.issErrors},
		{"token", r.tokenEndpoint},
		{"refresh", r.refresh},
		{"refresh scope", r.refreshScope},
		{"revocation", r.revocation},
		{"introspection", r.introspection},
		{"concurrency", r.concurrency},
		{"device", r.device},
		{"private_key_jwt", r.privateKeyJWT},
		{"idjag", r.idjag},
		{"clients", r.realClients},
	}
	for _, a := range areas {
		if ctx.Err() != nil {
			break
		}
		r.log.Info("conformance: area", "area", a.name)
		a.fn(ctx)
	}
	r.finishIss()
	r.cleanup(context.WithoutCancel(ctx))

	rep := Report{MCPURL: r.t.MCPURL, Issuer: r.issuer, Started: start}
	for _, c := range catalogue {
		res := r.results[c.ID]
		if res == nil {
			res = &Result{Check: c, Status: Skip, Detail: "not run: an earlier step failed (see the discovery and registration checks)"}
			if ctx.Err() != nil {
				res.Detail = "not run: " + ctx.Err().Error()
			}
		}
		rep.Results = append(rep.Results, *res)
		rep.Summary.Total++
		switch res.Status {
		case Pass:
			rep.Summary.Pass++
		case Fail:
			rep.Summary.Fail++
		case Warn:
			rep.Summary.Warn++
		case Skip:
			rep.Summary.Skip++
		}
	}
	rep.Duration = time.Since(start)
	return rep
}

var checkIndex = func() map[string]Check {
	m := map[string]Check{}
	for _, c := range catalogue {
		m[c.ID] = c
	}
	return m
}()

// record sets the result of check id. A violation overrides a pass or skip; a pass
// overrides a skip; a pass never overrides a violation. Evidence accumulates.
func (r *runner) record(id string, st Status, detail string, evidence ...string) {
	c, ok := checkIndex[id]
	if !ok {
		panic("conformance: unknown check " + id)
	}
	cur := r.results[id]
	if cur == nil {
		r.results[id] = &Result{Check: c, Status: st, Detail: detail, Evidence: clip(evidence)}
		return
	}
	rank := map[Status]int{Skip: 0, Pass: 1, Warn: 2, Fail: 3}
	switch {
	case rank[st] > rank[cur.Status]:
		cur.Status = st
		cur.Detail = detail
		cur.Evidence = clip(append(evidence, cur.Evidence...))
	case rank[st] == rank[cur.Status]:
		if st != Pass && detail != "" && !strings.Contains(cur.Detail, detail) {
			cur.Detail += "; " + detail
		}
		cur.Evidence = clip(append(cur.Evidence, evidence...))
	}
}

func clip(ev []string) []string {
	const max = 12
	out := make([]string, 0, len(ev))
	seen := map[string]bool{}
	for _, e := range ev {
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		out = append(out, e)
	}
	if len(out) > max {
		out = append(out[:max], "…")
	}
	return out
}

// pass records a pass.
func (r *runner) pass(id string, evidence ...string) { r.record(id, Pass, "", evidence...) }

// violation records a violation of check id: fail for a MUST, warn for a SHOULD.
func (r *runner) violation(id, detail string, evidence ...string) {
	st := Fail
	if checkIndex[id].Level == SHOULD {
		st = Warn
	}
	r.record(id, st, detail, evidence...)
}

// warn records a warning whatever the check's level (behaviour that is allowed but
// weaker than the check asks, e.g. a SHOULD within a MUST check).
func (r *runner) warn(id, detail string, evidence ...string) { r.record(id, Warn, detail, evidence...) }

// skip records a skip unless the check already has a result.
func (r *runner) skip(id, detail string, evidence ...string) {
	if r.results[id] != nil {
		return
	}
	r.record(id, Skip, detail, evidence...)
}

// skipAll skips every listed check.
func (r *runner) skipAll(detail string, ids ...string) {
	for _, id := range ids {
		r.skip(id, detail)
	}
}

// check records a pass when ok, else a violation.
func (r *runner) check(id string, ok bool, detail string, evidence ...string) {
	if ok {
		r.pass(id, evidence...)
	} else {
		r.violation(id, detail, evidence...)
	}
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// stringList returns the JSON array of strings m[key]; ok is false when the member is
// absent or not an array of strings.
func stringList(m map[string]any, key string) ([]string, bool) {
	v, present := m[key]
	if !present {
		return nil, false
	}
	arr, isArr := v.([]any)
	if !isArr {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}
