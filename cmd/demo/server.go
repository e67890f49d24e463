package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	corspkg "github.com/fosite-mcp/fosite-mcp/provider/cors"
	"github.com/fosite-mcp/fosite-mcp/provider/loopback"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
	mcpsessions "github.com/fosite-mcp/fosite-mcp/mcp/sessions"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/idjag"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/provider/metrics"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// mcpPath is where the MCP endpoint lives, below the issuer's path.
const mcpPath = "/mcp"

// Access token formats (-access-tokens).
const (
	// tokensOpaque are random strings verified against the database (the default).
	tokensOpaque = "opaque"
	// tokensJWT are RFC 9068 JWTs signed with keys kept in the database, published at
	// jwks_uri and verified by the MCP endpoint without a database query.
	tokensJWT = "jwt"
)

// mcpSessionIdle is how long an MCP session may go without a request before it is
// closed (the go-sdk's SessionTimeout and the session guard's IdleTimeout): MCP hosts
// that stay connected send requests or keep a GET stream open; others reconnect.
const mcpSessionIdle = 10 * time.Minute

// httpLimits are the HTTP server's limits on slow or large requests.
type httpLimits struct {
	// ReadHeaderTimeout bounds reading the request line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included: a body dribbled a byte
	// at a time is cut off when it passes.
	ReadTimeout time.Duration
	// WriteTimeout bounds a response, from the end of the request headers.
	// Authenticated MCP requests are exempt (see unboundedStream): GET streams last
	// while the client is connected, POST responses stream while a tool runs.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for the next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
}

// defaultHTTPLimits are the demo's limits: generous for any real client (an MCP message
// or form is at most 1 MiB; 30 s reads 1 MiB at 35 KB/s), short enough that slow
// clients cannot pile up connections.
func defaultHTTPLimits() httpLimits {
	return httpLimits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// newHTTPServer returns the demo's http.Server for h with limits l.
func newHTTPServer(h http.Handler, log *slog.Logger, l httpLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// unboundedStream lifts the server's read and write deadlines (httpLimits) for an
// authenticated MCP request whose body has been read (the session guard in
// gosdk.Protect reads it, within its cap): a GET's SSE stream lasts as long as the client
// stays, a POST's response streams while the tool runs. The read deadline matters too:
// when it passes during a long response, net/http's background read takes it for a
// closed connection and cancels the request's context.
func unboundedStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(w, r)
	})
}

// serveFlags are the serve command's flags.
type serveFlags struct {
	addr, baseURL, db, postgres, secrets, autoApprove string
	pprof                                             string
	accessTokens                                      string
	tokenTTL                                          time.Duration
	cimd, debug, rateLimit, metrics                   bool
	trustIdPs                                         []trustedIdP
	gc                                                gcPolicy
	pkjwtClients                                      []pkjwtClient
}

// trustedIdP is one -trust-idp ISSUER=JWKS_URL.
type trustedIdP struct{ issuer, jwksURL string }

// parseTrustIdP parses a -trust-idp value.
func parseTrustIdP(v string) (trustedIdP, error) {
	iss, jwks, ok := strings.Cut(v, "=")
	if !ok || iss == "" || jwks == "" {
		return trustedIdP{}, errors.New("want ISSUER=JWKS_URL")
	}
	return trustedIdP{issuer: iss, jwksURL: jwks}, nil
}

func parseServeFlags(args []string, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("demo serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", "localhost:8080", "`host:port` to listen on")
	fs.StringVar(&f.baseURL, "base-url", "", "public `URL` of the server, the OAuth issuer (default http://localhost:PORT); set it when the server is reached through a proxy, e.g. https://mcp.example.com")
	fs.StringVar(&f.db, "db", "demo.db", "SQLite database `file`")
	fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL `DSN` (instead of SQLite), e.g. postgres://user:pass@localhost/demo")
	fs.StringVar(&f.secrets, "secrets", "", "secrets `file` (token signing secret, at-rest encryption key, passwords), created with mode 0600 on the first start (default: the -db file + \".secrets\")")
	fs.StringVar(&f.autoApprove, "auto-approve", "", "approve every authorization request as `USER` without showing the pages (development only; loopback issuers only)")
	fs.StringVar(&f.accessTokens, "access-tokens", tokensOpaque, "access token `format`: opaque (verified against the database, revocable at once) or jwt (RFC 9068, signed with rotating keys published at jwks_uri, verified without a database query, valid until they expire)")
	fs.DurationVar(&f.tokenTTL, "token-ttl", 0, "access token `lifetime` (default 1h, 10m with -access-tokens jwt)")
	fs.BoolVar(&f.cimd, "cimd", true, "accept client ID metadata documents (https URLs as client IDs, fetched by the server); -cimd=false leaves dynamic registration as the only way to get a client ID")
	fs.BoolVar(&f.rateLimit, "rate-limit", true, "limit how often each client address may call the OAuth endpoints and the login page (the library's defaults, HTTP 429 beyond); -rate-limit=false for load tests from one address")
	fs.BoolVar(&f.debug, "debug", false, "debug logging")
	fs.Func("trust-idp", "trust an enterprise identity provider's ID-JAGs (Enterprise-Managed Authorization, the RFC 7523 jwt-bearer grant): `ISSUER=JWKS_URL`, repeatable; e.g. the test IdP of go run ./test/cmd/testidp", func(v string) error {
		idp, err := parseTrustIdP(v)
		if err != nil {
			return err
		}
		f.trustIdPs = append(f.trustIdPs, idp)
		return nil
	})
	fs.Func("pkjwt-client", "create a machine-to-machine client (private_key_jwt, client_credentials; turns that grant on) from its public keys: `CLIENT_ID=PUBLIC_KEYS_FILE` (a JWK Set, one JWK, or a PEM public key whose kid is its RFC 7638 thumbprint), repeatable; on a restart the file's keys replace the client's. For the conformance suite's PKJWT-* checks: mcp-auth-conformance -pkjwt-client-id CLIENT_ID -pkjwt-key PRIVATE_KEY_FILE", func(v string) error {
		c, err := parsePKJWTClient(v)
		if err != nil {
			return err
		}
		f.pkjwtClients = append(f.pkjwtClients, c)
		return nil
	})
	fs.StringVar(&f.pprof, "pprof", "", "serve Go's runtime profiles (net/http/pprof) on this loopback `host:port`, e.g. 127.0.0.1:6060, for profiling under load (off by default; never on the demo's port)")
	fs.BoolVar(&f.metrics, "metrics", true, "serve Prometheus metrics at /metrics (package provider/metrics); on a public server, keep /metrics from the internet at the proxy")
	f.gc.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./cmd/demo [serve] [flags]\n\n"+
			"Runs an OAuth 2.1 authorization server with login and consent pages and a protected\n"+
			"MCP server (streamable HTTP) at /mcp. Clients get a client ID through dynamic\n"+
			"registration or a client ID metadata document. Connect with: go run ./cmd/demo client\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.gc.noted(fs)
	if f.gc.limitMiB < 0 {
		fs.Usage()
		return f, fmt.Errorf("-memory-limit %d: want a number of MiB, or 0 for none", f.gc.limitMiB)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.accessTokens != tokensOpaque && f.accessTokens != tokensJWT {
		fs.Usage()
		return f, fmt.Errorf("-access-tokens %q: want %s or %s", f.accessTokens, tokensOpaque, tokensJWT)
	}
	if f.tokenTTL < 0 {
		return f, fmt.Errorf("-token-ttl %s: must not be negative", f.tokenTTL)
	}
	if f.secrets == "" {
		f.secrets = f.db + ".secrets"
	}
	return f, nil
}

// serverConfig configures newServer.
type serverConfig struct {
	// Issuer is the server's public base URL and OAuth issuer (no trailing slash).
	Issuer string
	// DBPath is the SQLite file; ignored when PostgresDSN is set.
	DBPath string
	// PostgresDSN selects PostgreSQL.
	PostgresDSN string
	// SecretsPath is the secrets file, created on the first start.
	SecretsPath string
	// AutoApprove, when set, approves every request as this subject (loopback only).
	AutoApprove string
	// ListensBeyondLoopback is set when the listener accepts connections from other
	// machines (a wildcard or non-loopback -addr): the demo is then no local server,
	// whatever its issuer says, so -auto-approve is refused and the users' passwords
	// come from the secrets file instead of the well-known demo ones.
	ListensBeyondLoopback bool
	// AccessTokenTTL is the access token lifetime; 0 means the default (1 hour, 10
	// minutes with JWTAccessTokens).
	AccessTokenTTL time.Duration
	// JWTAccessTokens issues RFC 9068 JWT access tokens (mcp.Config.JWTAccessTokens)
	// instead of opaque ones.
	JWTAccessTokens bool
	// CIMD, when set, accepts client ID metadata documents
	// (mcp.Config.ClientIDMetadataDocuments); nil leaves them off. The demo command sets
	// &cimd.Options{} unless -cimd=false; tests set AllowAddress and RootCAs to serve
	// documents from a loopback TLS server.
	CIMD *cimd.Options
	// RateLimits is mcp.Config.RateLimits: nil means the library's defaults, which also
	// limit the login and consent page (mcp.Server.LimitLogin).
	RateLimits *mcp.RateLimits
	// TrustedIdPs are the enterprise IdPs whose ID-JAGs the token endpoint accepts
	// (provider.Config.IdentityAssertions); none leaves the grant off.
	TrustedIdPs []trustedIdP
	// PKJWTClients are static private_key_jwt clients of the client_credentials grant
	// (-pkjwt-client), created or given the configured keys at start; any turns the grant
	// on (provider.Config.EnableClientCredentials).
	PKJWTClients []pkjwtClient

	// Metrics serves Prometheus metrics at /metrics (provider/metrics, with the live
	// grants gauge). The audit trail (audit.* lines) goes to Logger either way.
	Metrics bool
	// Logger receives the logs.
	Logger *slog.Logger
}

// demoServer is the whole demo: authorization server, pages and MCP server.
type demoServer struct {
	issuer, mcpURL string
	loopback       bool // the issuer is on a loopback host
	local          bool // and so is the listener: -auto-approve and the well-known passwords allowed
	secretsCreated bool
	tokenTTL       time.Duration // access token lifetime
	users          *userDirectory
	store          *gormstore.Store
	as             *mcp.Server
	handler        http.Handler
	mcpServer      *sdk.Server // the MCP tools server behind /mcp
	log            *slog.Logger
	// draining ends when the server shuts down; it ends the MCP streams that never
	// finish on their own (the standalone SSE streams of GET /mcp).
	draining  context.Context
	stopDrain context.CancelFunc
}

// newServer opens the storage, loads (or creates) the secrets and builds the demo.
// Close releases the storage.
func newServer(ctx context.Context, cfg serverConfig) (*demoServer, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := provider.ValidateIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("base URL %s: %w (use -base-url https://… for a public server)", cfg.Issuer, err)
	}
	iss, _ := url.Parse(cfg.Issuer)
	d := &demoServer{issuer: cfg.Issuer, mcpURL: cfg.Issuer + mcpPath, loopback: loopback.IsHost(iss.Hostname()), log: log}
	d.local = d.loopback && !cfg.ListensBeyondLoopback
	d.draining, d.stopDrain = context.WithCancel(context.Background())
	switch {
	case cfg.AutoApprove != "" && !d.loopback:
		return nil, fmt.Errorf("-auto-approve is refused for the non-loopback issuer %s: it would approve anybody's request", cfg.Issuer)
	case cfg.AutoApprove != "" && !d.local:
		return nil, errors.New("-auto-approve is refused on a listener that accepts connections from other machines: it would approve anybody's request (listen on loopback, e.g. -addr localhost:8080)")
	}
	sec, created, err := loadOrCreateSecrets(cfg.SecretsPath)
	if err != nil {
		return nil, err
	}
	d.secretsCreated = created
	if secretsFileTooOpen(cfg.SecretsPath) {
		log.Warn("the secrets file is readable by other users; chmod 600 it", "path", cfg.SecretsPath)
	}
	d.users = newUserDirectory(d.local, sec)

	opts := gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: sec.encryptionKeyID(), Secret: sec.EncryptionKey}},
		Logger:         log,
	}
	if cfg.PostgresDSN != "" {
		d.store, err = gormstore.OpenPostgres(ctx, cfg.PostgresDSN, opts)
	} else {
		d.store, err = gormstore.OpenSQLite(cfg.DBPath, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := d.store.Migrate(ctx); err != nil {
		d.store.Close()
		return nil, err
	}
	if err := migrateSessions(ctx, d.store.DB()); err != nil {
		d.store.Close()
		return nil, err
	}
	if err := d.build(ctx, cfg, sec); err != nil {
		d.store.Close()
		return nil, err
	}
	return d, nil
}

// build creates the authorization server (mcp.New) from cfg and composes the demo's
// handler: the authorization server's endpoints, the protected MCP endpoint, the HTML
// pages, health, readiness and (optionally) metrics, behind the request log.
func (d *demoServer) build(ctx context.Context, cfg serverConfig, sec *secrets) error {
	base := strings.TrimSuffix(mustParse(d.issuer).Path, "/")
	pcfg, metricsHandler, err := d.providerConfig(cfg, sec)
	if err != nil {
		return err
	}
	resource := resourceserver.Resource{
		URL:           d.mcpURL,
		Name:          "fosite-mcp demo MCP server",
		Scopes:        []string{scopeTools, scopeAdmin},
		DefaultScopes: []string{scopeTools},
	}
	if d.as, err = mcp.New(ctx, d.mcpConfig(cfg, pcfg, resource)); err != nil {
		return err
	}
	if err := d.ensurePKJWTClients(ctx, cfg.PKJWTClients); err != nil {
		return err
	}
	mcpHandler, err := d.protectedMCP()
	if err != nil {
		return err
	}
	pg, err := d.newPages(sec, base, resource)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	d.as.Register(mux)
	mux.Handle(base+mcpPath, mcpHandler)
	pg.register(mux)
	mux.HandleFunc("GET "+base+"/healthz", d.healthz)
	mux.Handle("GET "+base+"/readyz", d.as.ReadinessHandler()) // 503 while the database is unavailable
	if metricsHandler != nil {
		mux.Handle("GET "+base+"/metrics", metricsHandler)
	}
	d.handler = requestLog(d.log, mux)
	return nil
}

// providerConfig is the provider's configuration for cfg (setting d.tokenTTL), with the
// metrics handler when cfg.Metrics is on.
func (d *demoServer) providerConfig(cfg serverConfig, sec *secrets) (provider.Config, http.Handler, error) {
	d.tokenTTL = cfg.AccessTokenTTL
	switch {
	case d.tokenTTL > 0:
	case cfg.JWTAccessTokens:
		d.tokenTTL = jwtaccess.DefaultAccessTokenLifespan
	default:
		d.tokenTTL = provider.DefaultAccessTokenLifespan
	}
	pcfg := provider.Config{
		Issuer:              d.issuer,
		Storage:             d.store,
		GlobalSecret:        sec.GlobalSecret,
		LoginURL:            d.issuer + consentPath,
		AccessTokenLifespan: d.tokenTTL,
		Logger:              d.log,
		// The device flow (RFC 8628) for clients without a browser, opt-in per client:
		// `go run ./cmd/demo client -device`. The demo's own page verifies the codes.
		DeviceAuthorization: &provider.DeviceAuthorizationOptions{VerificationURI: d.issuer + devicePath},
		// A user who approved a client skips the consent page for it for 30 days (not
		// the login); the Connected apps page lists and revokes these grants.
		RememberConsent: &provider.RememberConsentOptions{},
		Audit:           &observe.AuditOptions{}, // audit.* lines in the demo's log
		// Machine-to-machine clients (-pkjwt-client) use client_credentials; no other
		// client may (registrations and documents never get it).
		EnableClientCredentials: len(cfg.PKJWTClients) > 0,
	}
	var metricsHandler http.Handler
	if cfg.Metrics {
		m, err := metrics.New(metrics.Options{LiveGrants: d.store})
		if err != nil {
			return pcfg, nil, err
		}
		pcfg.Observer, metricsHandler = m, m.Handler()
	}
	if cfg.AutoApprove != "" {
		d.log.Warn("auto-approve is on: every authorization request is approved without asking", "subject", cfg.AutoApprove)
		pcfg.AutoApprove = autoApprover(cfg.AutoApprove, d.log)
	}
	var err error
	pcfg.IdentityAssertions, err = d.identityAssertions(cfg.TrustedIdPs)
	return pcfg, metricsHandler, err
}

// identityAssertions is the ID-JAG grant trusting idps (-trust-idp), nil without any.
func (d *demoServer) identityAssertions(idps []trustedIdP) (*provider.IdentityAssertionGrant, error) {
	if len(idps) == 0 {
		return nil, nil
	}
	trusted := make([]idjag.TrustedIdP, 0, len(idps))
	for _, t := range idps {
		trusted = append(trusted, idjag.TrustedIdP{Issuer: t.issuer, JWKSURL: t.jwksURL})
	}
	// The IdPs' key sets are fetched through the SSRF guard; loopback is admitted,
	// since the operator named these URLs (the test IdP runs on 127.0.0.1).
	v, err := idjag.New(idjag.Options{Audience: d.issuer, IdPs: trusted, Logger: d.log, AllowAddress: netguard.AllowLoopback})
	if err != nil {
		return nil, fmt.Errorf("-trust-idp: %w", err)
	}
	return &provider.IdentityAssertionGrant{Validator: v}, nil
}

// mcpConfig is mcp.New's configuration: pcfg, the one resource, cfg's rate limits and
// optional CIMD and JWT access tokens.
func (d *demoServer) mcpConfig(cfg serverConfig, pcfg provider.Config, resource resourceserver.Resource) mcp.Config {
	mcfg := mcp.Config{
		Provider:   pcfg,
		Resources:  []resourceserver.Resource{resource},
		RateLimits: cfg.RateLimits,
		Logger:     d.log,
	}
	if cfg.CIMD != nil {
		mcfg.ClientIDMetadataDocuments = &mcp.ClientIDMetadataDocuments{Enabled: true, Options: *cfg.CIMD}
	}
	if cfg.JWTAccessTokens {
		// Keys live in the demo's database (encrypted at rest like the sessions) and
		// rotate on the library's schedule while Run runs. The MCP endpoint verifies
		// tokens locally: a revoked token keeps working until it expires (10 minutes by
		// default), the trade-off JWT access tokens make.
		mcfg.JWTAccessTokens = &mcp.JWTAccessTokens{Enabled: true}
	}
	return mcfg
}

// protectedMCP creates the demo's MCP server (d.mcpServer) and returns its streamable
// HTTP handler behind CORS and the bearer middleware.
func (d *demoServer) protectedMCP() (http.Handler, error) {
	var calls atomic.Int64
	d.mcpServer = newMCPServer(time.Now(), &calls)
	// Every MCP request needs demo:tools; a tools/call of stats also needs demo:admin
	// (403 insufficient_scope otherwise, and clients step up). gosdk.Protect also hands
	// the verified token to the go-sdk, which pins each MCP session to its user, and
	// bounds the sessions (64 per user, 10,000 in all, 1 MiB bodies, closed when idle
	// or when their grant is revoked).
	protect, err := gosdk.Protect(d.as, resourceserver.BearerOptions{
		Resource:        d.mcpURL,
		Scopes:          []string{scopeTools},
		OperationScopes: resourceserver.ToolScopes(toolScopes),
	}, gosdk.WithSessions(&mcpsessions.Options{IdleTimeout: mcpSessionIdle, Logger: d.log}))
	if err != nil {
		return nil, err
	}
	mcpHandler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return d.mcpServer }, &sdk.StreamableHTTPOptions{
		SessionTimeout: mcpSessionIdle,
		// A POST is answered with one JSON body instead of an SSE stream (every MCP
		// client accepts both): the demo's tools answer at once and send nothing before
		// their result, and the stream cost a quarter of an initialize's CPU (flushes,
		// event framing). Server-initiated messages still go through a session's GET
		// stream.
		JSONResponse: true,
		// go-sdk refuses requests that reach a loopback listener with another Host
		// (DNS rebinding); behind a proxy on the same machine, a public base URL is such
		// a Host. Tokens protect the endpoint either way.
		DisableLocalhostProtection: !d.loopback,
	})
	return cors(protect(unboundedStream(d.endStreamsOnShutdown(mcpHandler)))), nil
}

// newPages builds the demo's HTML pages (home, consent, device, connected apps) under
// base.
func (d *demoServer) newPages(sec *secrets, base string, resource resourceserver.Resource) (*pages, error) {
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	canonMCP, _ := provider.CanonicalResource(d.mcpURL)
	metadataURL, _ := resourceserver.MetadataURL(d.mcpURL)
	pg := &pages{
		provider:  d.as.Provider(),
		sessions:  newSessions(sec.GlobalSecret, mustParse(d.issuer).Scheme == "https", d.store.DB()),
		users:     d.users,
		base:      base,
		showUsers: d.local,
		scopes:    scopeDescriptions,
		resources: map[string]string{canonMCP: resource.Name},
		tmpl:      tmpl,
		log:       d.log,
		limit:     d.as.LimitLogin,

		limitUserCode: d.as.LimitUserCode,
	}
	pg.home = homePage{Title: "Home", Base: base, MCPURL: d.mcpURL, Issuer: d.issuer, MetadataURL: metadataURL,
		Clients: d.clientsNote(), Tokens: d.tokensNote(), Tools: demoTools}
	if d.local {
		pg.home.DemoUsers = d.users.users
	}
	return pg, nil
}

// endStreamsOnShutdown ends GET requests (standalone SSE streams, which stay open for as
// long as the client is connected) when the server starts shutting down, so that a
// graceful shutdown does not wait for connected clients to leave. POST requests (tool
// calls) run to completion.
func (d *demoServer) endStreamsOnShutdown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(d.draining, cancel)
			defer stop()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// Handler returns the demo's HTTP handler.
func (d *demoServer) Handler() http.Handler { return d.handler }

// Close ends the MCP streams and closes the storage.
func (d *demoServer) Close() error {
	d.stopDrain()
	return d.store.Close()
}

// healthz is the liveness probe: 200 while the process serves HTTP. It does not touch
// the database (that is /readyz), so that a database outage does not get every replica
// restarted.
func (d *demoServer) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}

// serve runs the demo server until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, f serveFlags, stdout, stderr io.Writer) error {
	level := slog.LevelInfo
	if f.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	gcPercent, memLimit := f.gc.apply(os.LookupEnv)
	log.Info("garbage collector", slog.String("gc_percent", gcPercent), slog.String("memory_limit", memLimit))
	if f.pprof != "" {
		if err := servePprof(ctx, f.pprof, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	issuer := strings.TrimSuffix(f.baseURL, "/")
	if issuer == "" {
		issuer = defaultIssuer(f.addr, ln.Addr())
	}
	tcp, _ := ln.Addr().(*net.TCPAddr)
	d, err := newServer(ctx, serverConfig{
		ListensBeyondLoopback: tcp == nil || !tcp.IP.IsLoopback(),
		Issuer:                issuer,
		DBPath:                f.db,
		PostgresDSN:           f.postgres,
		SecretsPath:           f.secrets,
		AutoApprove:           f.autoApprove,
		AccessTokenTTL:        f.tokenTTL,
		JWTAccessTokens:       f.accessTokens == tokensJWT,
		CIMD:                  cimdOptions(f.cimd),
		RateLimits:            rateLimits(f.rateLimit),
		TrustedIdPs:           f.trustIdPs,
		PKJWTClients:          f.pkjwtClients,
		Metrics:               f.metrics,
		Logger:                log,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	// The library's background work: purging expired codes, tokens and pending
	// requests, pruning abandoned dynamic registrations, and with JWT access tokens
	// refreshing and rotating the signing keys. It ends before the storage closes.
	bgCtx, stopBackground := context.WithCancel(ctx)
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		_ = d.as.Run(bgCtx)
	}()
	defer func() {
		stopBackground()
		<-bgDone
	}()
	d.printBanner(stdout, f)

	srv := newHTTPServer(d.Handler(), log, defaultHTTPLimits())
	srv.RegisterOnShutdown(d.stopDrain)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// In-flight requests finish; open MCP streams end (RegisterOnShutdown above); what
	// is still running at the deadline is cut.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// rateLimits returns the mcp.Config.RateLimits of -rate-limit.
func rateLimits(on bool) *mcp.RateLimits {
	if on {
		return nil // the library's defaults
	}
	return &mcp.RateLimits{Disabled: true}
}

// printBanner tells the user what is running and how to connect.
func (d *demoServer) printBanner(w io.Writer, f serveFlags) {
	storage := "SQLite " + f.db
	if f.postgres != "" {
		storage = "PostgreSQL"
	}
	secretsNote := "loaded"
	if d.secretsCreated {
		secretsNote = "created; keep it with the database"
	}
	fmt.Fprintf(w, "\nfosite-mcp demo is running\n\n")
	fmt.Fprintf(w, "  MCP server   %s\n", d.mcpURL)
	fmt.Fprintf(w, "  Issuer       %s\n", d.issuer)
	fmt.Fprintf(w, "  Home page    %s/\n", d.issuer)
	fmt.Fprintf(w, "  Storage      %s\n", storage)
	fmt.Fprintf(w, "  Secrets      %s (%s)\n", f.secrets, secretsNote)
	fmt.Fprintf(w, "  Clients      %s\n", d.clientsNote())
	fmt.Fprintf(w, "  Tokens       %s\n\n", d.tokensNote())
	if f.autoApprove != "" {
		fmt.Fprintf(w, "  AUTO-APPROVE every authorization request as %q (no login, no consent)\n\n", f.autoApprove)
	}
	fmt.Fprintf(w, "Demo users (username / password):\n")
	for _, u := range d.users.users {
		fmt.Fprintf(w, "  %-8s %s\n", u.Username, u.Password)
	}
	clientCmd := "go run ./cmd/demo client"
	if d.mcpURL != "http://localhost:8080"+mcpPath {
		clientCmd += " -url " + d.mcpURL
	}
	fmt.Fprintf(w, "\nConnect:\n")
	fmt.Fprintf(w, "  %s\n      logs in through your browser, lists the tools, calls whoami\n", clientCmd)
	fmt.Fprintf(w, "  %s stats\n      step-up: the stats tool needs the %s scope\n", clientCmd, scopeAdmin)
	fmt.Fprintf(w, "  npx @modelcontextprotocol/inspector\n      transport Streamable HTTP, URL %s\n\n", d.mcpURL)
}

// clientsNote says how clients get a client ID, for the banner and the home page.
func (d *demoServer) clientsNote() string {
	if d.as.ClientIDMetadataDocuments() != nil {
		return "dynamic registration or client ID metadata documents (https URL client IDs)"
	}
	return "dynamic registration only (client ID metadata documents off)"
}

// tokensNote describes the access tokens, for the banner and the home page.
func (d *demoServer) tokensNote() string {
	if d.as.KeyManager() != nil {
		return "JWT (RFC 9068), valid " + d.tokenTTL.String() + ", verified locally (keys at " + d.as.Provider().Metadata().JWKSURI + "; revocation takes effect at expiry)"
	}
	return "opaque, valid " + d.tokenTTL.String() + ", verified against the database"
}

// cimdOptions returns the client ID metadata document settings of the -cimd flag: the
// package defaults (public document hosts only, 5 s, 5 KiB, cached per Cache-Control)
// or nil (off).
func cimdOptions(on bool) *cimd.Options {
	if !on {
		return nil
	}
	return &cimd.Options{}
}

// defaultIssuer is http://HOST:PORT for the listener, with "localhost" for a wildcard
// listen address.
func defaultIssuer(addr string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(bound.String())
	ip := net.ParseIP(host)
	switch {
	case host == "" || strings.EqualFold(host, "localhost") || (ip != nil && ip.IsUnspecified()):
		host = "localhost"
	case ip != nil && ip.To4() == nil:
		host = "[" + ip.String() + "]"
	case ip != nil:
		host = ip.String()
	default:
		host = strings.ToLower(host)
	}
	return "http://" + host + ":" + port
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// cors lets browser-based MCP clients (the MCP Inspector in direct mode) call the MCP
// endpoint. Any origin may: the endpoint takes bearer tokens, never cookies.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			next.ServeHTTP(w, r)
			return
		}
		policy := corspkg.Policy{Methods: "GET, POST, DELETE, OPTIONS", MaxAge: 10 * time.Minute,
			ExposeHeaders: "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate"}
		if corspkg.IsPreflight(r) {
			policy.Preflight(w, r)
			return
		}
		policy.SetHeaders(w)
		next.ServeHTTP(w, r)
	})
}
