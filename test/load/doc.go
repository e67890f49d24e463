// Package load is a small load harness for a running fosite-mcp deployment: it drives
// the authorization server and the protected MCP endpoint over real HTTP, the way MCP
// clients do, and reports per phase how many operations it completed, how many failed
// (by status and OAuth or JSON-RPC error code), the throughput and the latency
// percentiles. The command test/load/cmd/mcp-auth-load runs it; test/load/README.md
// holds measured numbers.
//
// Three phases, each run at one or more concurrency levels (one worker per level, each
// worker with its own client and tokens, so that no two workers share state):
//
//   - [PhaseLogin]: one operation is a whole login of a new MCP client: dynamic client
//     registration (RFC 7591), the authorization request (PKCE S256, RFC 8707 resource)
//     which the target must approve at once (the demo with -auto-approve USER), and the
//     code exchange at the token endpoint. With Config.ReuseClient each worker registers
//     once during setup and an operation is authorize + exchange.
//   - [PhaseBearer]: one operation is one authenticated MCP request (ping by default,
//     Config.BearerMethod) in an MCP session the worker opened during setup
//     (initialize + notifications/initialized). Its cost is the bearer middleware's
//     token verification (a database read for opaque tokens, a signature check for JWT
//     access tokens) plus the MCP handler's session lookup and a trivial method; no
//     tool runs and nothing is written.
//   - [PhaseRefresh]: one operation is one refresh-token rotation at the token endpoint.
//     Each worker rotates its own token chain strictly sequentially, always presenting
//     the newest refresh token: a concurrent reuse would hit the grace window for
//     rotated tokens (compat.RefreshGrace) and measure something else.
//
// The target must not rate-limit the harness's address either (the demo:
// -rate-limit=false; the library: mcp.Config.RateLimits = &mcp.RateLimits{Disabled:
// true}): its defaults allow a handful of registrations and tokens a minute per address,
// and every further request would be a 429 error.
//
// Setup (registrations, logins, MCP initialization) runs before each phase's clock
// starts and is not measured. A phase ends at Config.Duration or after Config.Requests
// operations, whichever comes first; requests in flight then finish and count.
//
// Safety: the harness refuses targets that are not on this machine (127.0.0.0/8, ::1,
// localhost) unless Config.AllowRemote is set, and also checks every endpoint the
// target's metadata names and every address it dials; it never uses an HTTP proxy and
// follows no redirects but the authorization endpoint's to pages on its own origin
// (a consent page that approves at once), at most MaxConsentRedirects. Concurrency is capped at [MaxConcurrency] and the measured
// time of a whole run at [MaxTotalDuration]; cancelling the context (Ctrl-C in the
// command) stops it with partial results.
//
// Beyond Run: Config.Target [TargetTSModel] drives the TypeScript model server
// (mcp-oauth-server 1.0.0), [Compare] runs the same phases on our server and the model,
// one at a time, and reports both with the ratios and their RSS (issue 9), and [Soak]
// runs a mixed load of logins, MCP calls, refreshes and revocations for minutes with a
// time series of the server's RSS, threads, descriptors and database size (issue 14).
package load
