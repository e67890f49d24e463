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

// BearerMethods are the MCP methods the bearer phase may send: both are answered by
// the MCP server without running a tool.
var BearerMethods = []string{"ping", "tools/list"}

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
