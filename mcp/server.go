package mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Config configures New: an OAuth 2.1 authorization server (Provider) in front of one or
// more MCP servers (Resources), with dynamic client registration and the compatibility
// shims real MCP clients need.
type Config struct {
	// Provider configures the authorization server. Issuer, Storage and GlobalSecret are
	// required, and a way to log users in (Authenticator, LoginURL or AutoApprove); see
	// provider.Config for every default. New fills in Resources, DefaultResource and
	// Scopes from the Resources below, and wraps AuthorizeHook and EditMetadata (a hook
	// or edit set here still runs, after the MCP layer's).
	Provider provider.Config

	// Resources are the MCP servers tokens are issued for. At least one is required.
	Resources []Resource

	// Compat selects the compatibility shims. Nil means compat.Default(), what a public
	// MCP server should run; use compat.Strict() for the specifications only.
	Compat *compat.Options

	// Registration configures RFC 7591 dynamic client registration at
	// {Issuer}/register. Nil means open registration with the package defaults;
	// Endpoint and SupportedScopes are filled in by New when empty. Set Policy to
	// registration.PolicyClosed to turn registration off.
	Registration *registration.Options

	// Logger receives operational logs (never secrets or tokens). Default
	// Provider.Logger, else slog.Default().
	Logger *slog.Logger
}

// Server is an MCP authorization server: the OAuth endpoints, the metadata documents,
// dynamic client registration, and bearer middleware for the protected MCP servers.
// Create it with New and mount it with Register.
type Server struct {
	provider     *provider.Provider
	registry     *Registry
	registration *registration.Handler
	prm          http.Handler
	compat       compat.Options
	logger       *slog.Logger
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	if len(cfg.Resources) == 0 {
		return nil, errors.New("mcp: at least one resource is required")
	}
	registry, err := NewRegistry(cfg.Resources...)
	if err != nil {
		return nil, err
	}
	s := &Server{registry: registry, compat: compat.Default()}
	if cfg.Compat != nil {
		s.compat = *cfg.Compat
	}
	s.logger = cfg.Logger
	if s.logger == nil {
		s.logger = cfg.Provider.Logger
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}

	pcfg := cfg.Provider
	if pcfg.Logger == nil {
		pcfg.Logger = s.logger
	}
	pcfg.Resources = nil
	for _, r := range registry.Resources() {
		pcfg.Resources = append(pcfg.Resources, r.URL)
	}
	pcfg.Scopes = mergeScopes(pcfg.Scopes, registry.Scopes())
	if def, ok := registry.Default(); ok && s.compat.DefaultResource && pcfg.DefaultResource == "" {
		pcfg.DefaultResource = def.URL
	}
	userHook := pcfg.AuthorizeHook
	pcfg.AuthorizeHook = func(ctx context.Context, req *provider.AuthorizationRequest) error {
		if err := s.authorizeHook(ctx, req); err != nil {
			return err
		}
		if userHook != nil {
			return userHook(ctx, req)
		}
		return nil
	}

	regOpts := registration.Options{}
	if cfg.Registration != nil {
		regOpts = *cfg.Registration
	}
	if regOpts.Endpoint == "" {
		regOpts.Endpoint = pcfg.Issuer + RegistrationPath
	}
	if regOpts.SupportedScopes == nil {
		regOpts.SupportedScopes = registry.Scopes()
	}
	if regOpts.Logger == nil {
		regOpts.Logger = s.logger
	}
	if s.registration, err = registration.NewHandler(pcfg.Storage, regOpts); err != nil {
		return nil, err
	}
	userEdit := pcfg.EditMetadata
	pcfg.EditMetadata = func(m *provider.AuthorizationServerMetadata) {
		if s.registration.Advertised() {
			m.RegistrationEndpoint = s.registration.Endpoint()
		}
		if userEdit != nil {
			userEdit(m)
		}
	}

	if s.provider, err = provider.New(pcfg); err != nil {
		return nil, err
	}
	if s.prm, err = NewMetadataHandler(pcfg.Issuer, registry, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// RegistrationPath is where New puts the registration endpoint below the issuer.
const RegistrationPath = "/register"

// Provider returns the authorization server, for consent pages (AuthorizationRequest,
// Approve, Deny), static clients (CreateClient) and token verification.
func (s *Server) Provider() *provider.Provider { return s.provider }

// Registry returns the protected resources.
func (s *Server) Registry() *Registry { return s.registry }

// Register mounts every endpoint on mux: the authorization server's endpoints under the
// issuer's path, its RFC 8414 metadata, the registration endpoint, and the RFC 9728
// protected resource metadata of every resource (at this host's root, which is where
// clients look for it when the MCP servers share the host; otherwise mount
// ProtectedResourceMetadata on their hosts).
func (s *Server) Register(mux *http.ServeMux) {
	s.provider.Register(mux)
	if s.registration.Advertised() {
		path := endpointPath(s.registration.Endpoint())
		mux.Handle(path, s.registration)
		mux.Handle(path+"/", s.registration)
	}
	mux.Handle(WellKnownPath, s.prm)
	mux.Handle(WellKnownPath+"/", s.prm)
}

// Handler returns a mux with Register applied.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// ProtectedResourceMetadata serves the RFC 9728 documents of every resource; mount it at
// WellKnownPath and WellKnownPath+"/" on the MCP servers' host. Register does this for you
// when everything shares one host.
func (s *Server) ProtectedResourceMetadata() http.Handler { return s.prm }

// VerifyAccessToken verifies an access token; it implements AccessTokenVerifier.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*provider.AccessToken, error) {
	return s.provider.VerifyAccessToken(ctx, token)
}

// Protect guards next, the MCP endpoint of resource (one of Config.Resources), with
// bearer-token checks; scopes are required on every request. Use Bearer for per-tool
// scopes and other options.
func (s *Server) Protect(resource string, next http.Handler, scopes ...string) http.Handler {
	b, err := s.Bearer(BearerOptions{Resource: resource, Scopes: scopes})
	if err != nil {
		// Misconfiguration (an unknown resource): fail closed, loudly.
		s.logger.Error("mcp: cannot protect resource", "resource", resource, "err", err)
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "protected resource misconfigured", http.StatusInternalServerError)
		})
	}
	return b.Wrap(next)
}

// Bearer returns the bearer middleware for opts.Resource, which must be one of
// Config.Resources. ChallengeScopes default to the resource's default scopes, else its
// scopes, so that a 401 tells clients what to ask for.
func (s *Server) Bearer(opts BearerOptions) (*Bearer, error) {
	r, ok := s.registry.Lookup(opts.Resource)
	if !ok {
		return nil, fmt.Errorf("mcp: %q is not a configured resource", opts.Resource)
	}
	if opts.ChallengeScopes == nil {
		opts.ChallengeScopes = r.DefaultScopes
		if len(opts.ChallengeScopes) == 0 {
			opts.ChallengeScopes = r.PublishedScopes()
		}
	}
	if opts.Logger == nil {
		opts.Logger = s.logger
	}
	return NewBearer(s, opts)
}

// authorizeHook applies the authorization-request shims of s.compat.
func (s *Server) authorizeHook(_ context.Context, req *provider.AuthorizationRequest) error {
	if s.compat.FilterUnknownScopes {
		known := s.registry.Scopes()
		req.Scopes = slices.DeleteFunc(req.Scopes, func(sc string) bool { return !slices.Contains(known, sc) })
	}
	if s.compat.DefaultScopes && len(req.Scopes) == 0 {
		req.Scopes = s.defaultScopes(req)
	}
	return nil
}

// defaultScopes returns the scopes granted to a request that asked for none: the
// default scopes of the bound resources the client may have, else the client's
// registered scopes.
func (s *Server) defaultScopes(req *provider.AuthorizationRequest) []string {
	var allowed []string
	if req.Client != nil {
		allowed = req.Client.Scopes
	}
	var out []string
	for _, res := range req.Resources {
		r, ok := s.registry.Lookup(res)
		if !ok {
			continue
		}
		for _, sc := range r.DefaultScopes {
			if slices.Contains(allowed, sc) && !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	if len(out) == 0 {
		out = append(out, allowed...)
	}
	return out
}

// mergeScopes returns a followed by the members of b not in a.
func mergeScopes(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// endpointPath returns the path of an absolute endpoint URL.
func endpointPath(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}
