package conformance

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Level says how strongly a check's source requires the behaviour it checks.
type Level string

// Levels.
const (
	// MUST: a violation is a failure.
	MUST Level = "MUST"
	// SHOULD: a violation is a warning.
	SHOULD Level = "SHOULD"
)

// Status is the outcome of one check.
type Status string

// Statuses.
const (
	// Pass: the server behaves as required.
	Pass Status = "pass"
	// Fail: a MUST is violated.
	Fail Status = "fail"
	// Warn: a SHOULD is violated, or behaviour that real clients depend on is missing.
	Warn Status = "warn"
	// Skip: the check could not run (feature absent, prerequisite failed, or not
	// configured); Detail says why.
	Skip Status = "skip"
)

// Check describes one requirement the suite checks.
type Check struct {
	// ID names the check, e.g. "AS-META-ISSUER". Stable across versions.
	ID string `json:"id"`
	// Area groups related checks, e.g. "AS metadata".
	Area string `json:"area"`
	// Title says what is required, in one line.
	Title string `json:"title"`
	// Source cites the requirement: specification revision and section, or RFC section.
	Source string `json:"source"`
	// Level is MUST (violation fails) or SHOULD (violation warns).
	Level Level `json:"level"`
}

// Result is the outcome of one Check.
type Result struct {
	Check
	// Status is pass, fail, warn or skip.
	Status Status `json:"status"`
	// Detail explains a fail, warn or skip in one sentence.
	Detail string `json:"detail,omitempty"`
	// Evidence lists what was observed: request lines with the status, and the
	// offending header or field. Tokens, codes and secrets are redacted.
	Evidence []string `json:"evidence,omitempty"`
}

// Summary counts results by status.
type Summary struct {
	Total int `json:"total"`
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Skip  int `json:"skip"`
}

// Report is the outcome of Run: one Result per check, in catalogue order.
type Report struct {
	// MCPURL is the MCP endpoint the suite ran against.
	MCPURL string `json:"mcp_url"`
	// Issuer is the authorization server's issuer, as discovered; empty when discovery
	// failed.
	Issuer string `json:"issuer,omitempty"`
	// Started is when the run started.
	Started time.Time `json:"started"`
	// Duration is how long the run took.
	Duration time.Duration `json:"duration_ns"`
	// Summary counts the results by status.
	Summary Summary `json:"summary"`
	// Results holds one result per check of Checks(), in that order.
	Results []Result `json:"results"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool { return r.Summary.Fail > 0 }

// Result returns the result of the check id.
func (r Report) Result(id string) (Result, bool) {
	for _, res := range r.Results {
		if res.ID == id {
			return res, true
		}
	}
	return Result{}, false
}

// WithStatus returns the results with status s.
func (r Report) WithStatus(s Status) []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == s {
			out = append(out, res)
		}
	}
	return out
}

// ClientCredentials describe a client pre-registered at the authorization server.
type ClientCredentials struct {
	// ID is the client_id. Required.
	ID string
	// Secret is the client secret of a confidential client; empty for a public client.
	Secret string
	// AuthMethod is the token endpoint authentication method: "none",
	// "client_secret_basic" or "client_secret_post". Default "client_secret_basic" when
	// Secret is set, else "none".
	AuthMethod string
	// RedirectURI is a redirect URI registered for the client, used as is. Required.
	// The suite never listens on it: it reads the authorization response from the
	// redirect's Location header.
	RedirectURI string
}

// Target is what Run checks, and how.
type Target struct {
	// MCPURL is the MCP endpoint, exactly as clients use it (the protected resource's
	// identifier), e.g. "https://mcp.example.com/mcp". Required.
	MCPURL string

	// Client is a pre-registered client. When set, authorization flows use it (as MCP
	// clients prefer pre-registered credentials); dynamic client registration is still
	// checked when offered. When nil, the suite registers its own clients through
	// dynamic client registration, and skips flow checks if the server offers none.
	Client *ClientCredentials

	// Introspector is a confidential client the authorization server lets use its
	// introspection endpoint (a resource server's credentials, created by the operator);
	// only ID, Secret and AuthMethod matter. Default: Client, when it is confidential.
	// Without either, the introspection checks try the suite's self-registered client,
	// which a server should refuse (INTRO-SELF-REGISTERED: anyone can register one), and
	// then skip INTRO-ACTIVE and INTRO-INACTIVE.
	Introspector *ClientCredentials

	// Login drives the user's part of authorization (login and consent) when the
	// authorization server shows a page instead of redirecting straight back. Default
	// AutoApprove{}, for servers configured to approve every request.
	Login LoginDriver

	// HTTPClient sends every request. Default a client with a 30 s timeout. The suite
	// copies it, turns redirect following off and gives the copy a cookie jar when it
	// has none.
	HTTPClient *http.Client

	// RateLimitWait is how long the suite waits, at most, before it retries a request
	// answered with 429 Too Many Requests and a Retry-After (per-address rate limits, on by
	// default in mcp.New, would otherwise fail a run from one address). Default
	// DefaultRateLimitWait; negative turns retrying off.
	RateLimitWait time.Duration

	// Scopes are the scopes to request. Default: the 401 challenge's scope, else the
	// protected resource metadata's scopes_supported, else none (the MCP scope selection
	// strategy).
	Scopes []string

	// OtherResource is a second protected resource served by the same authorization
	// server, optional. With it the suite checks that a token bound to one resource is
	// refused by the other, and narrowing a grant to one of several resources.
	OtherResource string

	// Concurrency is how many parallel redemptions of one authorization code the
	// concurrency check sends. Default 10.
	Concurrency int

	// RefreshGraceWait is how long a rotated refresh token stays usable on the server (a
	// grace window for clients that refresh concurrently), optional. When the server
	// turns out to have one, the suite waits this long (plus nothing) and then checks
	// that a reuse revokes the grant; without it that check is skipped. Keep it short.
	RefreshGraceWait time.Duration

	// IDJAG is an enterprise IdP the server trusts, with its signing key, optional: with
	// it the suite checks the JWT bearer grant with ID-JAGs (Enterprise-Managed
	// Authorization, IDJAG-*); without it those checks are skipped.
	IDJAG *IDJAGIssuer

	// DeviceExpiryWait is the longest device code lifetime (expires_in) the suite waits
	// out to check expired_token (DEVICE-EXPIRED), optional: without it, or when the
	// server's codes live longer, that check is skipped. Keep it short.
	DeviceExpiryWait time.Duration

	// PrivateKeyJWT is a pre-registered client that authenticates with private_key_jwt
	// and may use the client_credentials grant, optional. With it the suite checks that a
	// valid assertion gets a token the MCP server accepts and that a wrong aud, an
	// expired assertion and a replayed one are refused with invalid_client; without it,
	// or when the server does not advertise private_key_jwt, those checks are skipped.
	PrivateKeyJWT *AssertionClient

	// KeepClients keeps the clients the suite registered. By default they are deleted
	// through RFC 7592 when the registration response offers a client configuration
	// endpoint.
	KeepClients bool

	// Logger receives one Debug line per request and Info lines per area. Default: a
	// logger that discards.
	Logger *slog.Logger
}

// Run runs every check against t and returns the report. It does not return an error:
// problems become failed or skipped checks (a Target without MCPURL fails the discovery
// checks). Cancel ctx to stop early; the remaining checks are then skipped.
func Run(ctx context.Context, t Target) Report {
	return newRunner(t).run(ctx)
}
