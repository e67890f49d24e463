package mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/registration"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Config configures New: an OAuth 2.1 authorization server (Provider) in front of one or
// more MCP servers (Resources), with dynamic client registration and the compatibility
// shims real MCP clients need.
//
// One rule for the optional parts: a nil pointer means the documented default, exactly
// as a pointer to the zero value does. A feature that is off by default is turned on with
// Enabled (ClientIDMetadataDocuments, JWTAccessTokens), one that is on by default is
// turned off with Disabled (RateLimits) or, for registration, Policy
// registration.PolicyClosed; New refuses settings that the switch would make it ignore.
// Compat is the one set of switches rather than a feature: nil means compat.Default().
type Config struct {
	// Provider configures the authorization server. Issuer, Storage and GlobalSecret are
	// required, and a way to log users in (Authenticator, LoginURL or AutoApprove); see
	// provider.Config for every default. New never overwrites a setting made here: what
	// it derives is merged with it (Scopes, AuthorizeHook and EditMetadata, which still
	// run after the MCP layer's, RedirectURIRules, the stricter compat switches), filled
	// in only when unset (ScopesForAudience, RefreshTokenScopes, AccessTokenLifespan,
	// Logger), or refused with an error naming the field when it has another home
	// (Resources, DefaultResource, MatchResource, RefreshTokenGrace, a looser
	// MinStateLength or TokenRedirectURIOptional than Compat, ClientResolver with
	// ClientIDMetadataDocuments, AccessTokenStrategy with JWTAccessTokens).
	// RequireResource is always on: the MCP layer issues no token without an audience.
	Provider provider.Config

	// Resources are the MCP servers tokens are issued for. At least one is required.
	Resources []resourceserver.Resource

	// DefaultResource is the URL of the resource bound to requests that name none
	// (compat.Options.DefaultResource), when there are several Resources; with a single
	// resource that one is the default. It must be one of Resources. Empty with several
	// resources: requests without `resource` are refused with invalid_target. This is its
	// one home: Provider.DefaultResource is refused.
	DefaultResource string

	// Compat selects the compatibility shims. Nil means compat.Default(), what a public
	// MCP server should run; use compat.Strict() for the specifications only.
	Compat *compat.Options

	// Registration configures RFC 7591 dynamic client registration at
	// {Issuer}/register. Nil means open registration with the package defaults;
	// Endpoint and SupportedScopes are filled in by New when empty. Set Policy to
	// registration.PolicyClosed to turn registration off.
	Registration *registration.Options

	// ClientIDMetadataDocuments configures client ID metadata documents (see
	// ClientIDMetadataDocuments). Nil, the default, leaves them off;
	// &ClientIDMetadataDocuments{Enabled: true} turns them on with cimd's defaults.
	ClientIDMetadataDocuments *ClientIDMetadataDocuments

	// JWTAccessTokens configures RFC 9068 JWT access tokens verified locally by the bearer
	// middleware (see JWTAccessTokens for the revocation trade-off). Nil, the default,
	// issues opaque tokens verified against storage; &JWTAccessTokens{Enabled: true}
	// turns JWTs on.
	JWTAccessTokens *JWTAccessTokens

	// ClientKeySets configures how the keys of private_key_jwt clients that publish them
	// at a jwks_uri (provider.ClientSpec.JWKSURI, RFC 7591 registrations, client ID
	// metadata documents) are fetched: through the SSRF guard (https only, public
	// addresses only, no redirects), at most 64 KiB, cached 5 minutes, fetched once more
	// (at most every 30 s) for an unknown kid, at most 1024 URLs kept; see
	// jwtaccess.RemoteKeySetsConfig. Nil means those defaults. Ignored when
	// Provider.ClientKeys is set.
	ClientKeySets *jwtaccess.RemoteKeySetsConfig

	// RateLimits limits how often each client IP address may call the authorization
	// endpoint, the login page, the token, revocation, introspection and registration
	// endpoints (HTTP 429 with Retry-After beyond). Nil means the defaults
	// (DefaultRateLimits); &RateLimits{Disabled: true} turns them off.
	// The metadata documents and the MCP endpoints are never limited. Behind a reverse
	// proxy, set RateLimits.ClientIP, or every client shares the proxy's limit.
	RateLimits *RateLimits

	// Maintenance configures Run's background work (purging expired rows, pruning
	// abandoned client registrations). The zero value means the documented defaults. New
	// refuses a Provider.Storage that cannot do that work (storage/gorm can) rather than
	// skip it: see Maintenance.
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
	registry     *resourceserver.Registry
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
	maintainer   maintainer // the storage's maintenance capabilities (maintenance.go)
	limits       *limiters  // nil: rate limits off
	builtinLogin bool       // the provider serves its login page
	logger       *slog.Logger
	obs          observe.Observer // provider.Config.Observer and Audit joined; nil: off (observe.go)
}

// New validates cfg and builds the server. ctx bounds the storage I/O New does at
// start-up (with JWT access tokens, loading or creating the signing keys); it is not
// retained.
func New(ctx context.Context, cfg Config) (*Server, error) {
	s, pcfg, err := prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if s.provider, err = provider.New(pcfg); err != nil {
		return nil, err
	}
	if s.prm, err = resourceserver.NewMetadataHandler(pcfg.Issuer, s.registry, nil); err != nil {
		return nil, err
	}
	s.legacyRoot = s.compat.LegacyEndpoints && s.sharesOriginWithIssuer(pcfg.Issuer)
	return s, nil
}

// prepare validates cfg and builds the server's parts but the provider, and the provider
// configuration: cfg.Provider with what the MCP layer derives from Resources, Compat and
// the optional features. It is the one place that writes provider settings; a setting
// the caller made is kept (merged, for lists and hooks) or refused with an error naming
// it (see refuseDerivedProviderFields), never overwritten.
func prepare(ctx context.Context, cfg Config) (*Server, provider.Config, error) {
	var none provider.Config
	if len(cfg.Resources) == 0 {
		return nil, none, errors.New("mcp: at least one resource is required")
	}
	registry, err := resourceserver.NewRegistry(cfg.Resources...)
	if err != nil {
		return nil, none, err
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
	if err := refuseDerivedProviderFields(cfg, s.compat); err != nil {
		return nil, none, err
	}

	pcfg := cfg.Provider
	if pcfg.Logger == nil {
		pcfg.Logger = s.logger
	}
	s.observeWith(&pcfg)
	for _, r := range registry.Resources() {
		pcfg.Resources = append(pcfg.Resources, r.URL)
	}
	userScopes := pcfg.Scopes
	pcfg.Scopes = mergeScopes(pcfg.Scopes, registry.Scopes())
	if err := s.applyCompat(&pcfg, cfg.DefaultResource); err != nil {
		return nil, none, err
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

	if err := s.enableClientKeys(&pcfg, cfg.ClientKeySets); err != nil {
		return nil, none, err
	}
	regOpts := s.registrationOptions(cfg.Registration, pcfg)
	if s.registration, err = registration.NewHandler(pcfg.Storage, regOpts); err != nil {
		return nil, none, err
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
		return nil, none, err
	}
	if err := s.enableJWT(ctx, &pcfg, cfg.JWTAccessTokens); err != nil {
		return nil, none, err
	}
	s.store = pcfg.Storage
	s.maintenance = cfg.Maintenance.withDefaults()
	if s.maintainer, err = newMaintainer(s.store, s.maintenance); err != nil {
		return nil, none, err
	}
	if s.limits, err = s.newLimiters(cfg.RateLimits); err != nil {
		return nil, none, err
	}
	s.builtinLogin = pcfg.LoginURL == ""
	return s, pcfg, nil
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
	if regOpts.GrantTypes == nil && (pcfg.DeviceAuthorization != nil || pcfg.IdentityAssertions != nil) {
		// Clients opt in by registering the device grant or the jwt-bearer grant (ID-JAG);
		// neither is a default, and the token endpoint refuses a client that did not.
		regOpts.GrantTypes = []string{"authorization_code", "refresh_token"}
		if pcfg.DeviceAuthorization != nil {
			regOpts.GrantTypes = append(regOpts.GrantTypes, provider.GrantTypeDeviceCode)
		}
		if pcfg.IdentityAssertions != nil {
			regOpts.GrantTypes = append(regOpts.GrantTypes, provider.GrantTypeJWTBearer)
		}
	}
	if pcfg.ClientKeys != nil {
		// private_key_jwt clients may register their keys by reference (jwks_uri).
		regOpts.JWKSURI = true
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

// applyCompat sets the provider's compatibility switches from s.compat (compat.Options.Apply)
// and the ones that need the resources: the default resource and lenient matching. The
// MCP layer never issues a token without an audience (RFC 8707, MCP 2025-06-18), so
// RequireResource is always on.
func (s *Server) applyCompat(pcfg *provider.Config, defaultResource string) error {
	c := s.compat
	pcfg.RequireResource = true
	def, ok := s.registry.Default()
	if defaultResource != "" {
		if def, ok = s.registry.Lookup(defaultResource); !ok {
			return fmt.Errorf("mcp: DefaultResource %q is not one of Resources", defaultResource)
		}
	}
	if c.DefaultResource && ok {
		pcfg.DefaultResource = def.URL
	}
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
	return nil
}

// refuseDerivedProviderFields reports a provider setting that New derives (from
// Resources, DefaultResource, Compat or an optional feature) but that the caller set to
// something the derivation would overwrite: each setting has one home, and nothing a
// caller sets is silently ignored. Settings New merges with the caller's (Scopes,
// AuthorizeHook, EditMetadata, RedirectURIRules, the stricter compat switches) or fills
// in only when unset (ScopesForAudience, RefreshTokenScopes, AccessTokenLifespan, Logger)
// are not refused.
func refuseDerivedProviderFields(cfg Config, c compat.Options) error {
	p := cfg.Provider
	switch {
	case len(p.Resources) > 0:
		return errors.New("mcp: Provider.Resources is set by New from Config.Resources; leave it empty")
	case p.DefaultResource != "":
		return errors.New("mcp: Provider.DefaultResource is set by New from Config.DefaultResource (compat.Options.DefaultResource); leave it empty")
	case p.MatchResource != nil:
		return errors.New("mcp: Provider.MatchResource is set by New from Resources (compat.Options.LenientResourceMatch); leave it nil")
	case p.TokenRedirectURIOptional && !c.TokenWithoutRedirectURI:
		return errors.New("mcp: Provider.TokenRedirectURIOptional conflicts with compat.Options.TokenWithoutRedirectURI=false; set the compat switch instead")
	case p.RefreshTokenGrace != (provider.RefreshTokenGrace{}):
		return errors.New("mcp: Provider.RefreshTokenGrace is set by New from compat.Options.RefreshGrace; leave it zero")
	case p.MinStateLength > 0 && p.MinStateLength < compat.StrictStateLength && !c.OptionalState:
		return fmt.Errorf("mcp: Provider.MinStateLength %d is below the %d compat requires without compat.Options.OptionalState; set that switch instead", p.MinStateLength, compat.StrictStateLength)
	case p.ClientResolver != nil && cfg.ClientIDMetadataDocuments.enabled():
		return errors.New("mcp: Provider.ClientResolver is set by New for Config.ClientIDMetadataDocuments; leave it nil or turn those off")
	case p.AccessTokenStrategy != nil && cfg.JWTAccessTokens.enabled():
		return errors.New("mcp: Provider.AccessTokenStrategy is set by New for Config.JWTAccessTokens; leave it nil or turn those off")
	case c.RefreshGrace.Window > 0 && !supportsGrace(p.Storage):
		return errors.New("mcp: compat.Options.RefreshGrace needs a Provider.Storage that implements provider.RefreshTokenGraceStorage (storage/gorm does); set RefreshGrace to zero for this storage")
	}
	return nil
}

// supportsGrace reports whether store can keep the refresh token grace window.
func supportsGrace(store provider.Storage) bool {
	_, ok := store.(provider.RefreshTokenGraceStorage)
	return ok
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
// Approve, DenyBy), static clients (CreateClient) and token verification.
func (s *Server) Provider() *provider.Provider { return s.provider }

// Registry returns the protected resources.
func (s *Server) Registry() *resourceserver.Registry { return s.registry }

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
	mux.Handle(resourceserver.WellKnownPath, prm)
	mux.Handle(resourceserver.WellKnownPath+"/", prm)
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
// resourceserver.WellKnownPath and resourceserver.WellKnownPath+"/" on the MCP servers' host. Register does this for you
// when everything shares one host.
func (s *Server) ProtectedResourceMetadata() http.Handler { return s.prm }

// VerifyAccessToken verifies an access token; it implements resourceserver.AccessTokenVerifier. JWT
// access tokens (Config.JWTAccessTokens) are verified locally unless CheckRevocation is
// set; opaque ones against storage.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*provider.AccessToken, error) {
	if s.jwt != nil && s.jwt.verifier != nil {
		return s.jwt.verifier.VerifyAccessToken(ctx, token)
	}
	return s.provider.VerifyAccessToken(ctx, token)
}

// Protect guards next, the MCP endpoint of resource (one of Config.Resources), with
// bearer-token checks; scopes are required on every request. Use resourceserver.Bearer for per-tool
// scopes and other options.
//
// Protect suits plain net/http handlers that read the caller from each request's
// context (resourceserver.TokenFromContext). For MCP SDK servers use the adapters instead:
// gosdk.Protect for the go-sdk and mcpgo.RequireBearer for mark3labs/mcp-go. They pin
// each MCP session to its user and bound the sessions (package sessions); Protect does
// neither, and the go-sdk runs a session's handlers with the context of the request that
// created it, so resourceserver.TokenFromContext there would name the session's creator.
//
// It returns an error when resource is not one of Config.Resources or a scope is not a
// valid scope token: a wiring mistake found at start-up, never a handler serving 500s.
func (s *Server) Protect(resource string, next http.Handler, scopes ...string) (http.Handler, error) {
	b, err := s.Bearer(resourceserver.BearerOptions{Resource: resource, Scopes: scopes})
	if err != nil {
		return nil, err
	}
	return b.Wrap(next), nil
}

// Bearer returns the bearer middleware for opts.Resource, which must be one of
// Config.Resources. ChallengeScopes default to the resource's default scopes, else its
// scopes, so that a 401 tells clients what to ask for.
func (s *Server) Bearer(opts resourceserver.BearerOptions) (*resourceserver.Bearer, error) {
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
	return resourceserver.NewBearer(s, opts)
}

// authorizeHook checks the requested scopes against the resources the request is bound to
// and applies the authorization-request shims of s.compat.
//
// A scope is granted on a token only when one of the token's resources defines it
// ([resourceserver.Resource].Scopes), or when it is not tied to a resource (provider.Config.Scopes as
// given in Config.Provider, and offline_access): a scope that only another resource
// defines would otherwise ride along on the token and, under the hierarchy rule of
// resourceserver.ScopeSatisfies, could satisfy this resource's own scopes ("files" from resource B
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
			if (!known || slices.Contains(allowed, sc)) && sc != provider.OfflineAccessScope && !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	if len(out) > 0 || !known {
		return out
	}
	for _, sc := range allowed {
		if sc == provider.OfflineAccessScope || slices.Contains(out, sc) {
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
// hierarchy rule of resourceserver.ScopeSatisfies, a scope of another resource that does not define
// them. Tokens for a single resource never carry another resource's scopes, but a token
// bound to both does, and there the ancestor satisfies the descendant; New logs them.
func crossResourceAncestors(resources []resourceserver.Resource) []scopeAncestry {
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
					if anc != desc && resourceserver.ScopeSatisfies(anc, desc) {
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
func (s *Server) boundResources(resources []string) []resourceserver.Resource {
	var out []resourceserver.Resource
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

// refuseIgnored reports the settings of opts (the options of Config.<field>) that would
// be ignored because the switch turns the feature off: a caller who set them meant the
// feature on, and nothing a caller sets is silently ignored. on is the feature's state.
func refuseIgnored(field, sw string, on bool, opts any) error {
	if on {
		return nil
	}
	v := reflect.ValueOf(opts)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	rest := v.Elem()
	for i := range rest.NumField() {
		if f := rest.Type().Field(i); f.Name != sw && !rest.Field(i).IsZero() {
			state := "Enabled is false"
			if sw == "Disabled" {
				state = "Disabled is true"
			}
			return fmt.Errorf("mcp: Config.%s.%s would be ignored: %s.%s; leave it zero or turn the feature on", field, f.Name, field, state)
		}
	}
	return nil
}
