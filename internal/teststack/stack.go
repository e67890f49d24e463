// Package teststack is the one in-process test stack of the module: a real
// authorization server over a real store (SQLite or the PostgreSQL of
// FOSITE_MCP_POSTGRES_DSN, see storage/gorm/gormtest), on loopback HTTP, approving
// every authorization request automatically (or through the built-in login page), with
// the MCP servers the tests need mounted behind the bearer middleware.
//
// Two kinds of authorization server, chosen by Options.Bare:
//
//   - the full one (the default): mcp.New with registration, the compatibility shims,
//     rate limits, client ID metadata documents, JWT access tokens as configured; the
//     stack of the compat, mcp/e2e, conformance, faults (replicas on one database,
//     Options.Issuer) and ID-JAG tests;
//   - the bare one: provider.New alone, a token source for the tests of the
//     resource-server side and the SDK adapters (mcp/resourceserver, mcp/gosdk,
//     mcp/mcpgo, mcp/registration, mcp/cimd), which get tokens through Stack.Tokens.
//
// Start it with Start in tests (cleanup through tb), with New where there is no
// testing.TB (examples, the conformance test server). The client side (Tokens,
// TokensFor, Post, Open, CallTool, OpenSSE) and the Recorder of every request work with
// either. The demo binary as a subprocess is test/internal/demoproc, not this package.
package teststack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Placeholders a resource URL in Options.Resources may start with: they stand for the
// origins of the stack's servers, which are known only once their listeners are open.
const (
	// Origin is the stack's own server (authorization server and MCP endpoints),
	// http://127.0.0.1:PORT.
	Origin = "{origin}"
	// OtherOrigin is a second server, started when a resource names it: it serves the
	// protected resource metadata and the resources on it, never the authorization
	// server (an MCP server on another host than its authorization server).
	OtherOrigin = "{other}"
)

// DefaultSubject is the user tokens of Stack.Tokens are issued to unless another is
// asked for.
const DefaultSubject = "alice"

// GlobalSecret is the authorization server's provider.Config.GlobalSecret.
const GlobalSecret = "teststack-global-secret-0123456789abcdef"

// clientPrefix prefixes the ID of the public client that stands for one subject
// (Stack.ClientID).
const clientPrefix = "app-for-"

// Options vary the stack. The zero value is a full authorization server (mcp.New with
// its defaults) on a fresh SQLite database, issuer {origin}/oauth, one MCP resource at
// {origin}/mcp, every request auto-approved.
type Options struct {
	// Store is the storage. Default: a fresh SQLite database (gormtest.Open) with Start;
	// required with New (the authorization server refuses to start without).
	Store provider.Storage

	// Bare runs provider.New alone instead of mcp.New: no registration, compatibility
	// shims, rate limits or RFC 9728 metadata, and resources are only the URLs tokens
	// may be bound to (provider.Config.Resources). The MCP* options below are ignored.
	Bare bool

	// Resources are the protected MCP servers. A URL may start with Origin or
	// OtherOrigin. Default: one resource {origin}/mcp named "MCP server" without scopes
	// (full); none (bare).
	Resources []resourceserver.Resource
	// Scopes are the bare server's provider.Config.Scopes. Default files, files:read,
	// files:write and admin. (The full server's scopes come from the resources.)
	Scopes []string
	// IssuerPath is appended to the origin to make the issuer. Default "/oauth";
	// RootIssuer makes the issuer the origin itself.
	IssuerPath string
	// RootIssuer makes the issuer the bare origin (metadata at the root well-known URL).
	RootIssuer bool
	// Issuer, when set, is the issuer whatever the origin: replicas behind one public
	// origin (a proxy) share it while each listens on its own port.
	Issuer string

	// Subject is the user every auto-approved authorization request is approved for.
	// Default: the subject the client stands for: for a client of Stack.ClientID(s), s;
	// for any other client, its client ID.
	Subject string
	// Authenticator, when set, replaces auto-approval with the built-in login and
	// consent pages checking these credentials.
	Authenticator provider.Authenticator
	// Provider edits the provider configuration last (lifespans, clocks, observers,
	// grants, client keys).
	Provider func(*provider.Config)

	// Compat is mcp.Config.Compat. Default compat.Default().
	Compat *compat.Options
	// JWTAccessTokens is mcp.Config.JWTAccessTokens. Default opaque access tokens.
	JWTAccessTokens *mcp.JWTAccessTokens
	// ClientKeySets is mcp.Config.ClientKeySets. Default public hosts only.
	ClientKeySets *jwtaccess.RemoteKeySetsConfig
	// ClientIDMetadataDocuments is mcp.Config.ClientIDMetadataDocuments. Default off.
	ClientIDMetadataDocuments *mcp.ClientIDMetadataDocuments
	// RateLimits is mcp.Config.RateLimits. Default mcp.DefaultRateLimits (on).
	RateLimits *mcp.RateLimits
	// MCP edits the mcp.New configuration last; st has its origins and issuer set.
	MCP func(st *Stack, cfg *mcp.Config)

	// Handler, when set, is served at the path of every resource of the full server,
	// behind mcp.Server.Protect. Default: nothing is mounted (tests mount their own
	// servers with Stack.Mount or on Stack.Mux).
	Handler http.Handler
	// RequireDefaultScopes makes every request to a resource through Handler need the
	// resource's DefaultScopes besides a valid token. Default: a valid token suffices.
	RequireDefaultScopes bool

	// Wrap, when set, wraps the whole handler of the stack's own server (authorization
	// server and MCP endpoints): deliberately broken servers are such wrappers.
	Wrap func(h http.Handler, st *Stack) http.Handler
	// Record records every request both servers see in Stack.Recorder.
	Record bool
	// Listener, when set, is where the stack's own server listens. Default a fresh
	// loopback port.
	Listener net.Listener
	// Logger receives the servers' logs. Default: discarded.
	Logger *slog.Logger
}

// Stack is a running stack. Its servers stop with Close (Start: at the test's cleanup).
type Stack struct {
	// Base is the stack's own origin, http://127.0.0.1:PORT.
	Base string
	// OtherBase is the second server's origin (a resource under OtherOrigin); empty
	// without one.
	OtherBase string
	// Issuer is the authorization server's issuer (Base + IssuerPath).
	Issuer string
	// MCPURL and OtherURL are the URLs of the first and the second resource; empty
	// when there are fewer.
	MCPURL, OtherURL string
	// Provider is the authorization server's provider.
	Provider *provider.Provider
	// Server is the mcp.New server; nil when bare.
	Server *mcp.Server
	// Mux is the stack's own server's mux (under Wrap and the Recorder); ResourceMux
	// serves the resources on OtherOrigin (Mux when there is no second server).
	Mux, ResourceMux *http.ServeMux
	// Handler is Options.Handler, the MCP handler without its guard.
	Handler http.Handler
	// Recorder holds every request the servers saw (Options.Record); nil without.
	Recorder *Recorder
	// HTTP is the stack's own server, for tests that close it early (Close waits for
	// the requests in flight) or replace its handler.
	HTTP *httptest.Server

	http    *http.Client
	servers []*httptest.Server
	mu      sync.Mutex
	clients map[string]bool
}

// Start starts a stack for tb with opts and stops it at tb's cleanup; an error fails
// tb. Without opts.Store it opens a fresh SQLite database.
func Start(tb testing.TB, opts Options) *Stack {
	tb.Helper()
	if opts.Store == nil {
		opts.Store = gormtest.Open(tb, gormtest.SQLite)
	}
	st, err := New(tb.Context(), opts)
	if err != nil {
		tb.Fatalf("teststack: %v", err)
	}
	tb.Cleanup(st.Close)
	return st
}

// New starts a stack with opts; ctx is used while starting (mcp.New). The caller
// Closes it. On an error every listener it opened (and opts.Listener) is closed.
func New(ctx context.Context, opts Options) (st *Stack, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	main := httptest.NewUnstartedServer(nil)
	if opts.Listener != nil {
		_ = main.Listener.Close()
		main.Listener = opts.Listener
	}
	var other *httptest.Server
	defer func() {
		if err != nil { // nothing started yet: close the listeners
			_ = main.Listener.Close()
			if other != nil {
				_ = other.Listener.Close()
			}
		}
	}()
	st = &Stack{
		Base:    "http://" + main.Listener.Addr().String(),
		Mux:     http.NewServeMux(),
		Handler: opts.Handler,
		http:    &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		clients: map[string]bool{},
	}
	st.ResourceMux = st.Mux
	st.HTTP = main
	if opts.Record {
		st.Recorder = &Recorder{}
	}
	st.Issuer = st.Base + "/oauth"
	if opts.Issuer != "" {
		st.Issuer = opts.Issuer
	} else if opts.RootIssuer {
		st.Issuer = st.Base
	} else if opts.IssuerPath != "" {
		st.Issuer = st.Base + opts.IssuerPath
	}
	resources := opts.Resources
	if resources == nil && !opts.Bare {
		resources = []resourceserver.Resource{{URL: Origin + "/mcp", Name: "MCP server"}}
	}
	resources = append([]resourceserver.Resource(nil), resources...)
	for i := range resources {
		if strings.HasPrefix(resources[i].URL, OtherOrigin) && other == nil {
			other = httptest.NewUnstartedServer(nil)
			st.OtherBase = "http://" + other.Listener.Addr().String()
			st.ResourceMux = http.NewServeMux()
		}
		resources[i].URL = st.resolve(resources[i].URL)
	}

	pcfg := provider.Config{
		Issuer:       st.Issuer,
		Storage:      opts.Store,
		GlobalSecret: []byte(GlobalSecret),
		Logger:       logger,
	}
	if opts.Authenticator != nil {
		pcfg.Authenticator = opts.Authenticator
	} else {
		pcfg.AutoApprove = func(_ context.Context, r *provider.AuthorizationRequest) (string, bool) {
			if opts.Subject != "" {
				return opts.Subject, true
			}
			return strings.TrimPrefix(r.ClientID, clientPrefix), true
		}
	}
	if opts.Bare {
		pcfg.Scopes = opts.Scopes
		if pcfg.Scopes == nil {
			pcfg.Scopes = []string{"files", "files:read", "files:write", "admin"}
		}
		for _, r := range resources {
			pcfg.Resources = append(pcfg.Resources, r.URL)
		}
		if opts.Provider != nil {
			opts.Provider(&pcfg)
		}
		if st.Provider, err = provider.New(pcfg); err != nil {
			return nil, err
		}
		st.Mux.Handle("/", st.Provider.Handler())
		st.setResources(pcfg.Resources)
	} else {
		if opts.Provider != nil {
			opts.Provider(&pcfg)
		}
		cfg := mcp.Config{
			Provider:                  pcfg,
			Resources:                 resources,
			Compat:                    opts.Compat,
			JWTAccessTokens:           opts.JWTAccessTokens,
			ClientKeySets:             opts.ClientKeySets,
			ClientIDMetadataDocuments: opts.ClientIDMetadataDocuments,
			RateLimits:                opts.RateLimits,
			// Logger unset: the MCP layer logs where the provider does (Options.Provider
			// may change that).
		}
		if opts.MCP != nil {
			opts.MCP(st, &cfg)
		}
		if st.Server, err = mcp.New(ctx, cfg); err != nil {
			return nil, err
		}
		st.Provider = st.Server.Provider()
		st.Server.Register(st.Mux)
		urls := make([]string, len(cfg.Resources))
		for i, r := range cfg.Resources {
			urls[i] = r.URL
		}
		st.setResources(urls)
		if other != nil {
			prm := st.Server.ProtectedResourceMetadata()
			st.ResourceMux.Handle(resourceserver.WellKnownPath, prm)
			st.ResourceMux.Handle(resourceserver.WellKnownPath+"/", prm)
		}
		if opts.Handler != nil {
			for _, r := range cfg.Resources {
				var scopes []string
				if opts.RequireDefaultScopes {
					scopes = r.DefaultScopes
				}
				if err := st.Mount(r.URL, opts.Handler, scopes...); err != nil {
					return nil, err
				}
			}
		}
	}

	var h http.Handler = st.Mux
	if opts.Wrap != nil {
		h = opts.Wrap(h, st)
	}
	if st.Recorder != nil {
		h = st.Recorder.Wrap(h)
	}
	main.Config.Handler = h
	if other != nil {
		var oh http.Handler = st.ResourceMux
		if st.Recorder != nil {
			oh = st.Recorder.Wrap(oh)
		}
		other.Config.Handler = oh
		other.Start()
		st.servers = append(st.servers, other)
	}
	main.Start()
	st.servers = append(st.servers, main)
	return st, nil
}

// resolve replaces a leading Origin or OtherOrigin of u.
func (st *Stack) resolve(u string) string {
	if rest, ok := strings.CutPrefix(u, Origin); ok {
		return st.Base + rest
	}
	if rest, ok := strings.CutPrefix(u, OtherOrigin); ok {
		return st.OtherBase + rest
	}
	return u
}

func (st *Stack) setResources(urls []string) {
	if len(urls) > 0 {
		st.MCPURL = urls[0]
	}
	if len(urls) > 1 {
		st.OtherURL = urls[1]
	}
}

// Mount serves h at resource's path behind the full server's bearer middleware
// (mcp.Server.Protect with scopes): on ResourceMux for a resource on OtherOrigin, on Mux
// for any other (the stack's origin, or a public origin in front of it, see
// Options.Issuer). A resource at an origin's root is served at "/{$}".
func (st *Stack) Mount(resource string, h http.Handler, scopes ...string) error {
	if st.Server == nil {
		return errors.New("teststack: Mount needs the full server (not Options.Bare)")
	}
	u, err := url.Parse(resource)
	if err != nil {
		return err
	}
	mux := st.Mux
	if st.OtherBase != "" && u.Scheme+"://"+u.Host == st.OtherBase {
		mux = st.ResourceMux
	}
	guarded, err := st.Server.Protect(resource, h, scopes...)
	if err != nil {
		return err
	}
	path := u.Path
	if path == "" {
		path = "/{$}"
	}
	mux.Handle(path, guarded)
	return nil
}

// Close stops the servers.
func (st *Stack) Close() {
	for _, srv := range st.servers {
		srv.Close()
	}
}

// Bare returns the Options of a bare authorization server (provider.New alone) on
// store that may bind tokens to resources, with edit (nil: none) applied to its
// configuration: the token source of the resource-server side's tests.
func Bare(store provider.Storage, resources []string, edit func(*provider.Config)) Options {
	o := Options{Store: store, Bare: true, Provider: edit}
	for _, r := range resources {
		o.Resources = append(o.Resources, resourceserver.Resource{URL: r})
	}
	return o
}
