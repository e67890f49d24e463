package load

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// Phase names.
const (
	// PhaseLogin measures whole logins: registration, authorization, code exchange.
	PhaseLogin = "login"
	// PhaseBearer measures authenticated MCP requests.
	PhaseBearer = "bearer"
	// PhaseRefresh measures refresh-token rotations.
	PhaseRefresh = "refresh"
)

// Phases are the phases in the order Run runs them.
var Phases = []string{PhaseLogin, PhaseBearer, PhaseRefresh}

// Limits the configuration may not exceed.
const (
	// MaxConcurrency is the most workers a phase may run.
	MaxConcurrency = 256
	// MaxTotalDuration bounds the measured time of a whole run: phases × concurrency
	// levels × Duration. Setup comes on top, bounded by SetupGrace.
	MaxTotalDuration = 5 * time.Minute
	// SetupGrace is how much longer than its measured time a whole run may take (setup
	// of every phase, requests in flight at the end of a phase); Run stops at
	// the planned time plus SetupGrace whatever happens.
	SetupGrace = time.Minute
)

// Defaults.
const (
	// DefaultDuration is a phase's duration when Config.Duration is zero.
	DefaultDuration = 10 * time.Second
	// DefaultTimeout is one HTTP request's time limit when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultBearerMethod is the MCP method of the bearer phase.
	DefaultBearerMethod = "ping"
	// DefaultRedirectURI is the loopback redirect URI the workers' clients register
	// (RFC 8252 §7.3). Nothing listens there: the harness reads the code from the
	// authorization response's Location header and never follows it.
	DefaultRedirectURI = "http://127.0.0.1/mcp-auth-load/callback"
)

// BearerMethods are the MCP methods the bearer phase may send; none runs a tool.
// "ping" and "tools/list" are sent in the MCP session the worker opened during setup;
// "initialize" opens a new session per operation (and closes it with DELETE in the same
// operation when the server opened one, so that sessions do not pile up): it measures
// what a new MCP connection costs a stateful server and is the only thing a stateless
// server (a new MCP server per request, like the TypeScript model) does per request.
var BearerMethods = []string{"ping", "tools/list", "initialize"}

// Targets: the kinds of server the harness knows how to drive (Config.Target).
const (
	// TargetFositeMCP is a fosite-mcp deployment such as the demo: an empty scope asks
	// for the resource's default scopes.
	TargetFositeMCP = "fosite-mcp"
	// TargetTSModel is the TypeScript model server (mcp-oauth-server 1.0.0 run by
	// /work/shared/peers/mcp-oauth-server/server.mjs, see test/load/README.md): it
	// issues a token without scopes when none is asked for and its MCP endpoint
	// requires the scope mcp:tools, so with an empty Config.Scope the harness asks for
	// every scope the protected resource metadata lists (scopes_supported).
	TargetTSModel = "ts-model"
)

// Targets are the values Config.Target may take.
var Targets = []string{TargetFositeMCP, TargetTSModel}

// MaxConsentRedirects is how many redirects on the authorization server's own origin
// the harness follows from the authorization endpoint (to a consent page that approves
// at once, as the TypeScript model's /consent does) before the redirect to the client's
// redirect URI must come.
const MaxConsentRedirects = 5

// Config configures Run.
type Config struct {
	// MCPURL is the protected MCP endpoint, for example http://127.0.0.1:8080/mcp. The
	// authorization server is found through its protected resource metadata (RFC 9728)
	// and the authorization server metadata (RFC 8414). Required.
	MCPURL string

	// Phases are the phases to run, in this order; default [Phases] (all three).
	Phases []string

	// Concurrency lists the concurrency levels each phase runs at, in order; default
	// {1}. Each level at most MaxConcurrency.
	Concurrency []int

	// Duration is how long each phase runs at each level; default DefaultDuration.
	// len(Phases) × len(Concurrency) × Duration may not exceed MaxTotalDuration.
	Duration time.Duration

	// Requests, when positive, ends a phase at a level after this many operations (in
	// all its workers together) if Duration has not ended it before.
	Requests int

	// Scope is the scope parameter of the authorization requests; empty asks for the
	// resource's default scopes.
	Scope string

	// BearerMethod is the MCP method of the bearer phase, one of BearerMethods; default
	// DefaultBearerMethod.
	BearerMethod string

	// Target is the kind of server, one of Targets; default TargetFositeMCP. It only
	// changes what the harness asks for where servers differ (see TargetTSModel).
	Target string

	// ServerPID, when positive, is the process ID of the server under load (on this
	// machine, Linux): after each phase and level the harness reads its resident set
	// size and thread count from /proc/PID/status into Result.Server, and the CPU time
	// it used during the measured time into Result.ServerCPU.
	ServerPID int

	// HelperPIDs are processes whose CPU time, with their children's, counts as the
	// server's in Result.ServerCPU: a PostgreSQL postmaster, whose backends do the
	// server's queries. Only with ServerPID.
	HelperPIDs []int

	// ReuseClient makes each login-phase worker register one client during setup and
	// only authorize and exchange codes in the measured loop. By default every login
	// registers a new client, as a new MCP client does on its first connection.
	ReuseClient bool

	// RedirectURI is the redirect URI of the workers' clients; default
	// DefaultRedirectURI. It must stay on this machine for the demo's -auto-approve.
	RedirectURI string

	// Timeout limits each HTTP request; default DefaultTimeout.
	Timeout time.Duration

	// AllowRemote allows a target (and endpoints, and addresses) outside the loopback
	// range. Off by default: load is only ever sent to this machine unless asked.
	AllowRemote bool

	// Logger receives progress (one line per phase and level); nil discards it.
	Logger *slog.Logger
}

// withDefaults returns c with defaults filled in, or an error for a configuration Run
// refuses.
func (c Config) withDefaults() (Config, error) {
	if c.MCPURL == "" {
		return c, errors.New("load: no MCP URL")
	}
	u, err := url.Parse(c.MCPURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("load: MCP URL %q: want an absolute http(s) URL", c.MCPURL)
	}
	if err := c.checkHost(u.Hostname()); err != nil {
		return c, err
	}
	if len(c.Phases) == 0 {
		c.Phases = slices.Clone(Phases)
	}
	for _, p := range c.Phases {
		if !slices.Contains(Phases, p) {
			return c, fmt.Errorf("load: unknown phase %q (want %s)", p, strings.Join(Phases, ", "))
		}
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{1}
	}
	for _, n := range c.Concurrency {
		if n < 1 || n > MaxConcurrency {
			return c, fmt.Errorf("load: concurrency %d: want 1 to %d", n, MaxConcurrency)
		}
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Duration < 0 {
		return c, fmt.Errorf("load: duration %s: must be positive", c.Duration)
	}
	if total := c.plannedDuration(); total > MaxTotalDuration {
		return c, fmt.Errorf("load: %d phases × %d concurrency levels × %s = %s: more than the %s a run may measure",
			len(c.Phases), len(c.Concurrency), c.Duration, total, MaxTotalDuration)
	}
	if c.Requests < 0 {
		return c, fmt.Errorf("load: requests %d: must not be negative", c.Requests)
	}
	if c.BearerMethod == "" {
		c.BearerMethod = DefaultBearerMethod
	}
	if !slices.Contains(BearerMethods, c.BearerMethod) {
		return c, fmt.Errorf("load: bearer method %q: want one of %s", c.BearerMethod, strings.Join(BearerMethods, ", "))
	}
	if c.Target == "" {
		c.Target = TargetFositeMCP
	}
	if !slices.Contains(Targets, c.Target) {
		return c, fmt.Errorf("load: target %q: want one of %s", c.Target, strings.Join(Targets, ", "))
	}
	if c.ServerPID < 0 {
		return c, fmt.Errorf("load: server PID %d: must not be negative", c.ServerPID)
	}
	if len(c.HelperPIDs) > 0 && c.ServerPID == 0 {
		return c, errors.New("load: helper PIDs without a server PID")
	}
	if c.RedirectURI == "" {
		c.RedirectURI = DefaultRedirectURI
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// plannedDuration is the measured time of the whole run.
func (c Config) plannedDuration() time.Duration {
	return time.Duration(len(c.Phases)*len(c.Concurrency)) * c.Duration
}

// checkHost refuses a host that is not on this machine unless AllowRemote is set.
func (c Config) checkHost(host string) error {
	if c.AllowRemote || loopback.IsHost(host) { // names are not resolved here; what "localhost" resolves to is checked when dialling
		return nil
	}
	return fmt.Errorf("load: refusing target host %q: not loopback (127.0.0.0/8, ::1, localhost); pass -allow-remote (Config.AllowRemote) to load a server elsewhere", host)
}

// checkURL is checkHost for an endpoint URL the target's metadata names.
func (c Config) checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("load: %s %q: not an absolute http(s) URL", what, raw)
	}
	if err := c.checkHost(u.Hostname()); err != nil {
		return fmt.Errorf("%s (%s)", err, what)
	}
	return nil
}
