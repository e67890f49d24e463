package mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Config configures New: an OAuth 2.1 authorization server (Provider) in front of one or
// more MCP servers (Resources), with dynamic client registration and the compatibility
// shims real MCP clients need.
type Config struct {
	// Provider configures the authorization server. Issuer, Storage and GlobalSecret are
	// required, and a way to log users in (Authenticator, LoginURL or AutoApprove); see
	// provider.Config for every default. New fills in Resources, DefaultResource and
	// Scopes from the Resources below (and ScopesForAudience, unless set here), and wraps
	// AuthorizeHook and EditMetadata (a hook or edit set here still runs, after the MCP
	// layer's). It derives the compatibility switches (RequireResource…,
	// ExactLocalhostRedirects, MinStateLength, RefreshTokenScopes) from Compat, keeping a
	// stricter value set here. New refuses, with an error, a Resources, MatchResource or
	// RefreshTokenGrace set here, and TokenRedirectURIOptional without
	// compat.Options.TokenWithoutRedirectURI: those live in Resources and Compat.
	Provider provider.Config

	// Resources are the MCP servers tokens are issued for. At least one is required.
	Resources []Resource

	// DefaultResource is the URL of the resource bound to requests that name none
	// (compat.Options.DefaultResource), when there are several Resources; with a single
	// resource that one is the default. It must be one of Resources. Empty with several
	// resources: requests without `resource` are refused with invalid_target.
	DefaultResource string

	// Compat selects the compatibility shims. Nil means compat.Default(), what a public
	// MCP server should run; use compat.Strict() for the specifications only.
	Compat *compat.Options

	// Registration configures RFC 7591 dynamic client registration at
	// {Issuer}/register. Nil means open registration with the package defaults;
	// Endpoint and SupportedScopes are filled in by New when empty. Set Policy to
	// registration.PolicyClosed to turn registration off.
	Registration *registration.Options

	// ClientIDMetadataDocuments, when set, accepts OAuth Client ID Metadata Documents
	// (draft-ietf-oauth-client-id-metadata-document-00), the registration MCP 2025-11-25
	// prefers (SHOULD): a client whose client_id is an https URL is described by the
	// JSON document at that URL, which the server fetches (with an SSRF guard, a size
	// cap, a timeout, and a cache honouring Cache-Control; see package cimd), and
	// client_id_metadata_document_supported is advertised. Resolved clients are stored
	// as provider.ClientSourceMetadataDocument and kept in step with their documents.
	// Nil, the default, leaves it off: it makes the server fetch URLs chosen by anyone
	// who can reach the authorization endpoint, which is an egress decision for the
	// operator. &cimd.Options{} turns it on with the package defaults.
	ClientIDMetadataDocuments *cimd.Options

	// JWTAccessTokens, when set, issues RFC 9068 JWT access tokens verified locally by the
	// bearer middleware (see JWTAccessTokens for the revocation trade-off). Nil, the
	// default, issues opaque tokens verified against storage.
	JWTAccessTokens *JWTAccessTokens

	// RateLimits limits how often each client IP address may call the authorization
	// endpoint, the login page, the token, revocation, introspection and registration
	// endpoints (HTTP 429 with Retry-After beyond). Nil means the defaults
	// (DefaultRateLimits); &RateLimits{Disabled: true} turns them off.
	// The metadata documents and the MCP endpoints are never limited. Behind a reverse
	// proxy, set RateLimits.ClientIP, or every client shares the proxy's limit.
	RateLimits *RateLimits

	// Maintenance configures Run's background work (purging expired rows, pruning
	// abandoned client registrations). The zero value means the documented defaults.
	Maintenance Maintenance

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
	knownScopes  []string // every scope the authorization server knows
	globalScopes []string // scopes allowed with every resource: Provider.Scopes and refresh token scopes
	legacyRoot   bool     // serve the 2025-03-26 root metadata and default endpoint paths
	cimd         *cimd.Resolver
	jwt          *jwtSetup // nil with opaque access tokens
	store        provider.Storage
	maintenance  Maintenance
	limits       *limiters // nil: rate limits off
	builtinLogin bool      // the provider serves its login page
	logger       *slog.Logger
	obs          observe.Observer // provider.Config.Observer and Audit joined; nil: off (observe.go)
}

// New validates cfg and builds the server. ctx bounds the storage I/O New does at
// start-up (with JWT access tokens, loading or creating the signing keys); it is not
// retained.
func New(ctx context.Context, cfg Config) (*Server, error) {
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
	s.observeWith(&pcfg)
	if len(pcfg.Resources) > 0 {
		return nil, errors.New("mcp: Provider.Resources is set by New from Config.Resources; leave it empty")
	}
	for _, r := range registry.Resources() {
		pcfg.Resources = append(pcfg.Resources, r.URL)
	}
	userScopes := pcfg.Scopes
	pcfg.Scopes = mergeScopes(pcfg.Scopes, registry.Scopes())
	defaultResource := cfg.DefaultResource
	if defaultResource == "" {
		defaultResource = pcfg.DefaultResource // named the provider's way
	}
	if err := s.applyCompat(&pcfg, defaultResource); err != nil {
		return nil, err
	}
	s.knownScopes = mergeScopes(pcfg.Scopes, pcfg.RefreshTokenScopes)
	s.globalScopes = mergeScopes(userScopes, pcfg.RefreshTokenScopes)
	if pcfg.ScopesForAudience == nil {
		// A token narrowed to some of its grant's resources keeps only their scopes.
		pcfg.ScopesForAudience = s.allowedScopes
	}
	for _, w := range crossResourceAncestors(registry.Resources()) {
		s.logger.Warn("mcp: a scope of one resource is a hierarchy ancestor of another resource's scope; a token bound to both satisfies the latter with the former",
			"scope", w.ancestor, "resource", w.ancestorResource, "descendant", w.descendant, "descendant_resource", w.descendantResource)
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

	regOpts := s.registrationOptions(cfg.Registration, pcfg)
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

	if err := s.enableClientIDMetadataDocuments(&pcfg, cfg.ClientIDMetadataDocuments); err != nil {
		return nil, err
	}
	if err := s.enableJWT(ctx, &pcfg, cfg.JWTAccessTokens); err != nil {
		return nil, err
	}
	s.store = pcfg.Storage
	s.maintenance = cfg.Maintenance.withDefaults()
	if s.limits, err = s.newLimiters(cfg.RateLimits); err != nil {
		return nil, err
	}
	s.builtinLogin = pcfg.LoginURL == ""
	if s.provider, err = provider.New(pcfg); err != nil {
		return nil, err
	}
	if s.prm, err = NewMetadataHandler(pcfg.Issuer, registry, nil); err != nil {
		return nil, err
	}
	s.legacyRoot = s.compat.LegacyEndpoints && s.sharesOriginWithIssuer(pcfg.Issuer)
	return s, nil
}

// registrationOptions completes the caller's registration options (nil: open
// registration) from the provider configuration and the compatibility shims; a value the
// caller set is kept.
func (s *Server) registrationOptions(opts *registration.Options, pcfg provider.Config) registration.Options {
	regOpts := registration.Options{}
	if opts != nil {
		regOpts = *opts
	}
	if regOpts.Endpoint == "" {
		regOpts.Endpoint = pcfg.Issuer + RegistrationPath
	}
	if regOpts.SupportedScopes == nil {
		regOpts.SupportedScopes = mergeScopes(s.registry.Scopes(), pcfg.RefreshTokenScopes)
	}
	if !s.compat.FilterUnknownScopes {
		regOpts.UnknownScopes = registration.RejectUnknownScopes
	}
	if regOpts.RedirectURIRules.DotlessSchemes == nil {
		regOpts.RedirectURIRules = pcfg.RedirectURIRules
	}
	if pcfg.DeviceAuthorization != nil && regOpts.GrantTypes == nil {
		// Clients opt in by registering the device grant; it is never a default.
		regOpts.GrantTypes = []string{"authorization_code", "refresh_token", provider.GrantTypeDeviceCode}
	}
	if s.compat.LenientRegistration {
		regOpts.NameFromRedirectHost = true
		if regOpts.DefaultGrantTypes == nil && (regOpts.GrantTypes == nil || slices.Contains(regOpts.GrantTypes, "refresh_token")) {
			regOpts.DefaultGrantTypes = []string{"authorization_code", "refresh_token"}
		}
	}
	if regOpts.Logger == nil {
		regOpts.Logger = s.logger
	}
	if regOpts.Observer == nil {
		regOpts.Observer = s.obs
	}
	return regOpts
}

// applyCompat sets the provider's compatibility switches from s.compat. Switches that
// make the server stricter keep a stricter value the caller set; the lenient ones are
// the shims' to decide.
func (s *Server) applyCompat(pcfg *provider.Config, defaultResource string) error {
	c := s.compat
	if err := refuseOwnedProviderFields(*pcfg, c); err != nil {
		return err
	}
	// The MCP layer never issues a token without an audience (RFC 8707, MCP 2025-06-18).
	pcfg.RequireResource = true
	pcfg.DefaultResource = ""
	def, ok := s.registry.Default()
	if defaultResource != "" {
		if def, ok = s.registry.Lookup(defaultResource); !ok {
			return fmt.Errorf("mcp: DefaultResource %q is not one of Resources", defaultResource)
		}
	}
	if c.DefaultResource && ok {
		pcfg.DefaultResource = def.URL
	}

	pcfg.MatchResource = nil
	if c.LenientResourceMatch {
		reg := s.registry
		pcfg.MatchResource = func(raw string) (string, bool) {
			r, ok := reg.Match(raw)
			if !ok {
				return "", false
			}
			canon, err := r.CanonicalURL()
			return canon, err == nil
		}
	}
	c.Apply(pcfg)
	if c.RefreshGrace.Window > 0 && pcfg.RefreshTokenGrace == (provider.RefreshTokenGrace{}) {
		s.logger.Warn("mcp: compat.RefreshGrace skipped: the storage does not implement provider.RefreshTokenGraceStorage")
	}
	return nil
}

// refuseOwnedProviderFields reports a provider setting the MCP layer derives from
// Resources and Compat but that the caller set to something else, instead of New
// overwriting it silently: each setting has one home.
func refuseOwnedProviderFields(p provider.Config, c compat.Options) error {
	switch {
	case p.MatchResource != nil:
		return errors.New("mcp: Provider.MatchResource is set by New from Resources (compat.Options.LenientResourceMatch); leave it nil")
	case p.TokenRedirectURIOptional && !c.TokenWithoutRedirectURI:
		return errors.New("mcp: Provider.TokenRedirectURIOptional conflicts with compat.Options.TokenWithoutRedirectURI=false; set the compat switch instead")
	case p.RefreshTokenGrace != (provider.RefreshTokenGrace{}):
		return errors.New("mcp: Provider.RefreshTokenGrace is set by New from compat.Options.RefreshGrace; leave it zero")
	}
	return nil
}

// sharesOriginWithIssuer reports whether the issuer has a path and shares its origin
// with a protected resource: the case where 2025-03-26 clients, which look for the
// authorization server at the MCP server's origin, need the root metadata and the
// default endpoint paths.
func (s *Server) sharesOriginWithIssuer(issuer string) bool {
	iu, err := url.Parse(issuer)
	if err != nil || strings.Trim(iu.Path, "/") == "" {
		return false
	}
	for _, r := range s.registry.Resources() {
		canon, err := r.CanonicalURL()
		if err != nil {
			continue
		}
		if ru, err := url.Parse(canon); err == nil && ru.Scheme == iu.Scheme && ru.Host == iu.Host {
			return true
		}
	}
	return false
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
// ProtectedResourceMetadata on their hosts), and with JWT access tokens the JWKS at
// jwks_uri.
//
// The authorization, token, revocation, introspection and registration endpoints and the
// built-in login page are rate-limited per client address (Config.RateLimits).
//
// With compat.Options.LegacyEndpoints, when the issuer has a path and shares its origin
// with an MCP server, it also mounts the 2025-03-26 fallbacks at the root:
// /.well-known/oauth-authorization-server, /authorize, /token and /register (mux must not
// have these patterns already).
func (s *Server) Register(mux *http.ServeMux) {
	s.registerProvider(mux)
	regPath := endpointPath(s.registration.Endpoint())
	registration := s.route(observe.EndpointRegistration, s.limit(registrationLimiter, s.registration))
	if s.registration.Advertised() {
		mux.Handle(regPath, registration)
		mux.Handle(regPath+"/", registration)
	}
	prm := s.route(observe.EndpointResourceMetadata, s.prm)
	mux.Handle(WellKnownPath, prm)
	mux.Handle(WellKnownPath+"/", prm)
	if s.jwt != nil {
		mux.Handle(endpointPath(jwtaccess.JWKSURI(s.provider.Metadata().Issuer)), s.route(observe.EndpointJWKS, s.jwt.keys.JWKSHandler()))
	}
	if s.legacyRoot {
		mux.Handle(legacyMetadataPath, s.route(observe.EndpointMetadata, http.HandlerFunc(s.provider.MetadataHandler)))
		mux.Handle(provider.AuthorizePath, s.route(observe.EndpointAuthorize, s.limit(authorizeLimiter, http.HandlerFunc(s.provider.Authorize))))
		mux.Handle(provider.TokenPath, s.route(observe.EndpointToken, s.limit(tokenLimiter, http.HandlerFunc(s.provider.Token))))
		if s.registration.Advertised() && regPath != RegistrationPath {
			mux.Handle(RegistrationPath, atPath(regPath, registration))
		}
	}
}

// legacyMetadataPath is where 2025-03-26 clients look for the authorization server
// metadata: at the MCP server's origin, without path insertion.
const legacyMetadataPath = "/.well-known/oauth-authorization-server"

// atPath serves h as if the request had been for path (the handler routes on its
// configured path).
func atPath(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = path, ""
		r2.URL = &u
		h.ServeHTTP(w, r2)
	})
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

// VerifyAccessToken verifies an access token; it implements AccessTokenVerifier. JWT
// access tokens (Config.JWTAccessTokens) are verified locally unless CheckRevocation is
// set; opaque ones against storage.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*provider.AccessToken, error) {
	if s.jwt != nil && s.jwt.verifier != nil {
		return s.jwt.verifier.VerifyAccessToken(ctx, token)
	}
	return s.provider.VerifyAccessToken(ctx, token)
}

// Protect guards next, the MCP endpoint of resource (one of Config.Resources), with
// bearer-token checks; scopes are required on every request. Use Bearer for per-tool
// scopes and other options.
//
// Protect suits plain net/http handlers that read the caller from each request's
// context (TokenFromContext). For MCP SDK servers use the adapters instead:
// gosdk.Protect for the go-sdk and mcpgo.RequireBearer for mark3labs/mcp-go. They pin
// each MCP session to its user and bound the sessions (package sessions); Protect does
// neither, and the go-sdk runs a session's handlers with the context of the request that
// created it, so TokenFromContext there would name the session's creator.
//
// It returns an error when resource is not one of Config.Resources or a scope is not a
// valid scope token: a wiring mistake found at start-up, never a handler serving 500s.
func (s *Server) Protect(resource string, next http.Handler, scopes ...string) (http.Handler, error) {
	b, err := s.Bearer(BearerOptions{Resource: resource, Scopes: scopes})
	if err != nil {
		return nil, err
	}
	return b.Wrap(next), nil
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
	if opts.Observer == nil {
		opts.Observer = s.obs
	}
	return NewBearer(s, opts)
}

// authorizeHook checks the requested scopes against the resources the request is bound to
// and applies the authorization-request shims of s.compat.
//
// A scope is granted on a token only when one of the token's resources defines it
// (Resource.Scopes), or when it is not tied to a resource (provider.Config.Scopes as
// given in Config.Provider, and offline_access): a scope that only another resource
// defines would otherwise ride along on the token and, under the hierarchy rule of
// ScopeSatisfies, could satisfy this resource's own scopes ("files" from resource B
// satisfying A's "files:delete"). Such scopes, like scopes nobody defines, are dropped
// with compat.Options.FilterUnknownScopes and refused with invalid_scope (RFC 6749
// §4.1.2.1) without it.
//
// Then a request that asks for no scope gets default scopes (DefaultScopes; without it
// such a request is invalid_scope when its resources have scopes, RFC 6749 §3.3).
func (s *Server) authorizeHook(_ context.Context, req *provider.AuthorizationRequest) error {
	allowed := s.allowedScopes(req.Resources)
	if s.compat.FilterUnknownScopes {
		req.Scopes = slices.DeleteFunc(req.Scopes, func(sc string) bool { return !slices.Contains(allowed, sc) })
	} else {
		for _, sc := range req.Scopes {
			if !slices.Contains(allowed, sc) {
				if slices.Contains(s.knownScopes, sc) {
					return fosite.ErrInvalidScope.WithHintf("The scope '%s' is not defined by the requested resource.", sc)
				}
				return fosite.ErrInvalidScope.WithHintf("The scope '%s' is unknown.", sc)
			}
		}
	}
	if len(req.Scopes) > 0 {
		return nil
	}
	if s.compat.DefaultScopes {
		req.Scopes = s.defaultScopes(req)
		return nil
	}
	for _, r := range s.boundResources(req.Resources) {
		if len(r.PublishedScopes()) > 0 {
			return fosite.ErrInvalidScope.WithHintf("The 'scope' parameter is required; the resource %s defines scopes (see its protected resource metadata).", r.URL)
		}
	}
	return nil
}

// defaultScopes returns the scopes granted to a request that asked for none
// (compat.Options.DefaultScopes documents the rule): the DefaultScopes of the bound
// resources that the client may be granted; else the client's registered scopes that
// the bound resources define. offline_access is never among them.
func (s *Server) defaultScopes(req *provider.AuthorizationRequest) []string {
	resources := s.boundResources(req.Resources)
	var allowed []string
	known := req.Client != nil
	if known {
		allowed = req.Client.Scopes
	}
	var out []string
	for _, r := range resources {
		for _, sc := range r.DefaultScopes {
			if (!known || slices.Contains(allowed, sc)) && sc != OfflineAccessScope && !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	if len(out) > 0 || !known {
		return out
	}
	for _, sc := range allowed {
		if sc == OfflineAccessScope || slices.Contains(out, sc) {
			continue
		}
		for _, r := range resources {
			if slices.Contains(r.Scopes, sc) {
				out = append(out, sc)
				break
			}
		}
	}
	return out
}

// allowedScopes returns the scopes a request bound to resources may be granted: the
// scopes those resources define and the global ones. A request bound to no registered
// resource (refused later with invalid_target) is checked against every known scope.
func (s *Server) allowedScopes(resources []string) []string {
	bound := s.boundResources(resources)
	if len(bound) == 0 {
		return s.knownScopes
	}
	allowed := s.globalScopes
	for _, r := range bound {
		allowed = mergeScopes(allowed, r.Scopes)
	}
	return allowed
}

// scopeAncestry is a scope of one resource that is a hierarchy ancestor of another
// resource's scope the latter does not define itself.
type scopeAncestry struct {
	ancestor, ancestorResource     string
	descendant, descendantResource string
}

// crossResourceAncestors lists the scopes of one resource that satisfy, under the
// hierarchy rule of ScopeSatisfies, a scope of another resource that does not define
// them. Tokens for a single resource never carry another resource's scopes, but a token
// bound to both does, and there the ancestor satisfies the descendant; New logs them.
func crossResourceAncestors(resources []Resource) []scopeAncestry {
	var out []scopeAncestry
	for i, a := range resources {
		for j, b := range resources {
			if i == j {
				continue
			}
			for _, anc := range a.Scopes {
				if slices.Contains(b.Scopes, anc) {
					continue
				}
				for _, desc := range b.Scopes {
					if anc != desc && ScopeSatisfies(anc, desc) {
						out = append(out, scopeAncestry{anc, a.URL, desc, b.URL})
					}
				}
			}
		}
	}
	return out
}

// boundResources returns the registered resources among the (canonical) resources an
// authorization request is bound to.
func (s *Server) boundResources(resources []string) []Resource {
	var out []Resource
	for _, raw := range resources {
		if r, ok := s.registry.Lookup(raw); ok {
			out = append(out, r)
		}
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
