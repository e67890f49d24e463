// Package provider is an OAuth 2.1 authorization server composed from Ory Fosite: the
// authorization code grant with PKCE (S256 only), refresh token rotation with reuse
// detection, token revocation (RFC 7009) and introspection (RFC 7662), RFC 8414
// metadata, RFC 9207 `iss` on every authorization response, RFC 8707 resource
// indicators, loopback redirect URIs on any port (RFC 8252 §7.3), a consent handoff
// to a login page (built in or your own) and, opt-in, the device grant (RFC 8628) and
// ID-JAGs from enterprise IdPs (Config.IdentityAssertions).
//
// Build one with New, mount it with Register (or Handler), and persist everything
// through a Storage such as storage/gorm.
package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Endpoint paths, relative to the issuer's path.
const (
	AuthorizePath     = "/authorize"
	TokenPath         = "/token"
	RevocationPath    = "/revoke"
	IntrospectionPath = "/introspect"
	LoginPath         = "/login"
)

// LoginRequestParam is the query parameter carrying the pending authorization request's
// ID to the login page (Config.LoginURL).
const LoginRequestParam = "auth_request"

// Provider is an OAuth 2.1 authorization server. Create it with New; it is safe for
// concurrent use.
type Provider struct {
	cfg    Config
	fcfg   *fosite.Config
	oauth2 fosite.OAuth2Provider
	// secretAuth is fosite's own client authentication (client_secret_basic,
	// client_secret_post, none); authenticateClient hands it every non-assertion request.
	secretAuth    fosite.ClientAuthenticationStrategy
	store         Storage
	fstore        fositeStore // fosite's view of store (CIMD resolution, jti records)
	strategy      *coreStrategy
	resources     map[string]bool
	log           *slog.Logger
	csrfKey       []byte
	issuerURL     *url.URL
	secureCookies bool
	metadata      AuthorizationServerMetadata
	metadataDoc   http.Handler // serves metadata (MetadataHandler)
	endpoints     endpoints
	device        *deviceFlow      // nil: the device grant is off
	obs           observe.Observer // nil: observation is off (observe.go)
	tokens        *tokenCache      // nil: VerifyAccessToken always reads storage
}

// endpoints holds the absolute URL and the mux pattern path of every endpoint.
type endpoints struct {
	authorize, token, revoke, introspect, login                     string // absolute URLs
	authorizePath, tokenPath, revokePath, introspectPath, loginPath string
	deviceAuthorization, deviceAuthorizationPath, devicePath        string
	metadataPaths                                                   []string
	loginCookiePath                                                 string // Path of the browser-binding cookies
}

// coreStrategy is the token strategy handed to fosite; the access-token part can be
// replaced (Config.AccessTokenStrategy).
type coreStrategy struct {
	oauth2.AccessTokenStrategy
	oauth2.RefreshTokenStrategy
	oauth2.AuthorizeCodeStrategy
}

// New validates cfg, fills in defaults and composes the authorization server.
func New(cfg Config) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	iss, _ := url.Parse(cfg.Issuer) // validated in withDefaults
	p := &Provider{
		cfg:           cfg,
		store:         cfg.Storage,
		log:           cfg.Logger,
		resources:     make(map[string]bool, len(cfg.Resources)),
		csrfKey:       deriveKey(cfg.GlobalSecret, "fosite-mcp csrf"),
		issuerURL:     iss,
		endpoints:     newEndpoints(cfg, iss),
		secureCookies: iss.Scheme == "https",
		obs:           observe.New(cfg.Observer, cfg.Audit, cfg.Logger),
		tokens:        newTokenCache(cfg.Storage, cfg.VerifiedTokenCacheTTL, cfg.VerifiedTokenCacheSize),
	}
	for _, r := range cfg.Resources {
		p.resources[r] = true
	}
	p.fcfg = p.fositeConfig()
	hmacStrategy := compose.NewOAuth2HMACStrategy(p.fcfg)
	if p.strategy, err = p.tokenStrategy(hmacStrategy); err != nil {
		return nil, err
	}
	if cfg.DeviceAuthorization != nil {
		p.device = &deviceFlow{
			opts:        *cfg.DeviceAuthorization,
			store:       cfg.Storage.(DeviceAuthorizationStore), // checked in withDefaults
			enigma:      hmacStrategy.Enigma,
			userCodeKey: deriveKey(cfg.GlobalSecret, "fosite-mcp user code"),
		}
	}
	if err := p.compose(); err != nil {
		return nil, err
	}
	p.metadata = p.buildMetadata()
	if cfg.EditMetadata != nil {
		cfg.EditMetadata(&p.metadata)
		if p.metadata.ResponseTypesSupported == nil { // required; never null
			p.metadata.ResponseTypesSupported = []string{"code"}
		}
	}
	if p.metadataDoc, err = p.newMetadataDoc(); err != nil {
		return nil, err
	}
	return p, nil
}

// newEndpoints computes every endpoint's absolute URL and mux path from the issuer.
func newEndpoints(cfg Config, iss *url.URL) endpoints {
	base := strings.TrimSuffix(iss.Path, "/")
	e := endpoints{
		authorize:      cfg.Issuer + AuthorizePath,
		token:          cfg.Issuer + TokenPath,
		revoke:         cfg.Issuer + RevocationPath,
		introspect:     cfg.Issuer + IntrospectionPath,
		login:          cfg.Issuer + LoginPath,
		authorizePath:  base + AuthorizePath,
		tokenPath:      base + TokenPath,
		revokePath:     base + RevocationPath,
		introspectPath: base + IntrospectionPath,
		loginPath:      base + LoginPath,

		deviceAuthorization:     cfg.Issuer + DeviceAuthorizationPath,
		deviceAuthorizationPath: base + DeviceAuthorizationPath,
		devicePath:              base + DevicePath,
	}
	e.loginCookiePath = e.loginPath
	if cfg.LoginURL != "" {
		e.loginCookiePath, _ = loginCookiePath(cfg.Issuer, cfg.LoginURL) // validated in withDefaults
	}
	e.metadataPaths = []string{
		"/.well-known/oauth-authorization-server" + base,
		"/.well-known/openid-configuration" + base,
	}
	if base != "" {
		e.metadataPaths = append(e.metadataPaths, base+"/.well-known/openid-configuration")
	}
	return e
}

// fositeConfig is the fosite configuration: our lifespans and secrets, PKCE with S256
// only, exact scope matching, our audience and redirect URI rules, no debug messages to
// clients.
func (p *Provider) fositeConfig() *fosite.Config {
	cfg := p.cfg
	rotated := make([][]byte, 0, len(cfg.RotatedGlobalSecrets))
	for _, s := range cfg.RotatedGlobalSecrets {
		rotated = append(rotated, deriveKey(s, "fosite-mcp hmac"))
	}
	refreshScopes := cfg.RefreshTokenScopes
	if refreshScopes == nil {
		refreshScopes = []string{}
	}
	return &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenLifespan,
		RefreshTokenLifespan:           cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan:          cfg.AuthorizeCodeLifespan,
		AccessTokenIssuer:              cfg.Issuer,
		IDTokenIssuer:                  cfg.Issuer,
		TokenURL:                       p.endpoints.token,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       p.audienceStrategy,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		MinParameterEntropy:            1, // state is optional with PKCE (OAuth 2.1); see validateAuthorize
		RefreshTokenScopes:             refreshScopes,
		GlobalSecret:                   deriveKey(cfg.GlobalSecret, "fosite-mcp hmac"),
		RotatedGlobalSecrets:           rotated,
		ClientSecretsHasher:            SecretHasher{},
		SendDebugMessagesToClients:     false,
		OmitRedirectScopeParam:         true,
		RedirectSecureChecker:          cfg.RedirectURIRules.secure,
		// The parameters a stored code keeps beyond fosite's defaults: fosite's own for
		// codes (code, and redirect_uri for RFC 6749 §4.1.3's check), and the PKCE
		// challenge and method (RFC 7636 §4.3), so that the code's row serves as the
		// PKCE session too (fositeStore.CreatePKCERequestSession).
		SanitationWhiteList: []string{"code", "redirect_uri", "code_challenge", "code_challenge_method"},
	}
}

// tokenStrategy is the HMAC strategy (fosite's, with keys in issue order: orderedHMAC)
// for codes and refresh tokens and, unless Config.AccessTokenStrategy replaces it, for
// access tokens.
func (p *Provider) tokenStrategy(hmacStrategy *oauth2.HMACSHAStrategy) (*coreStrategy, error) {
	ordered := &orderedHMAC{HMACSHAStrategy: hmacStrategy, config: p.fcfg}
	s := &coreStrategy{
		AccessTokenStrategy:   ordered,
		RefreshTokenStrategy:  ordered,
		AuthorizeCodeStrategy: ordered,
	}
	if p.cfg.AccessTokenStrategy != nil {
		access := p.cfg.AccessTokenStrategy(ordered, p.fcfg)
		if access == nil {
			return nil, errors.New("provider: Config.AccessTokenStrategy returned nil")
		}
		s.AccessTokenStrategy = access
	}
	return s, nil
}

// handlerFactories lists fosite's handlers in the order they run: the grants, our RFC
// 8707 check, PKCE, introspection and revocation.
func (p *Provider) handlerFactories() []compose.Factory {
	factories := []compose.Factory{
		p.codeGrantFactory,
		p.refreshGrantFactory,
	}
	if p.cfg.EnableClientCredentials {
		factories = append(factories, func(config fosite.Configurator, storage interface{}, strategy interface{}) interface{} {
			h := compose.OAuth2ClientCredentialsGrantFactory(config, storage, strategy).(fosite.TokenEndpointHandler)
			return clientCredentialsGrant{unknownWithoutStack{h}}
		})
	}
	if p.device != nil {
		factories = append(factories, func(fosite.Configurator, interface{}, interface{}) interface{} { return &deviceGrant{p: p} })
	}
	if p.cfg.IdentityAssertions != nil {
		opts := *p.cfg.IdentityAssertions
		factories = append(factories, func(fosite.Configurator, interface{}, interface{}) interface{} {
			return &assertionGrant{p: p, opts: opts}
		})
	}
	return append(factories,
		// Our RFC 8707 check must run after the grant handlers have loaded the grant and
		// before the PKCE handler deletes its session, so invalid_target stays retryable.
		func(fosite.Configurator, interface{}, interface{}) interface{} { return &resourceHandler{p: p} },
		compose.OAuth2PKCEFactory, // after the explicit code handler: it needs the issued code
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)
}

// compose builds fosite's provider over fositeStore with our client authentication,
// the handlers of handlerFactories and then Config.TokenEndpointHandlers.
func (p *Provider) compose() error {
	cfg := p.cfg
	fstore := fositeStore{Storage: cfg.Storage, grace: cfg.RefreshTokenGrace, exactLocalhost: cfg.ExactLocalhostRedirects}
	if cfg.ClientResolver != nil {
		fstore.resolution = &clientResolution{
			resolver: cfg.ClientResolver,
			store:    cfg.Storage,
			rules:    p.documentClientRules(),
			log:      cfg.Logger,
		}
	}
	p.fstore = fstore
	p.fcfg.ClientAuthenticationStrategy = p.authenticateClient
	p.oauth2 = compose.Compose(p.fcfg, fstore, p.strategy, p.handlerFactories()...)
	fos, ok := p.oauth2.(*fosite.Fosite)
	if !ok {
		return fmt.Errorf("provider: fosite's compose returned %T, not *fosite.Fosite", p.oauth2)
	}
	p.secretAuth = fos.DefaultClientAuthenticationStrategy
	for _, h := range cfg.TokenEndpointHandlers {
		p.fcfg.TokenEndpointHandlers.Append(h)
	}
	return nil
}

// Issuer returns the issuer identifier.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// OAuth2 returns the composed fosite provider, for extensions that need fosite directly.
func (p *Provider) OAuth2() fosite.OAuth2Provider { return p.oauth2 }

// Register registers every endpoint and well-known document on mux with exact path
// patterns: the endpoints under the issuer's path and the RFC 8414 metadata at the
// path-inserted well-known URLs at the host root (plus the OpenID Connect variants).
func (p *Provider) Register(mux *http.ServeMux) {
	mux.Handle(p.endpoints.authorizePath, p.route(observe.EndpointAuthorize, p.Authorize))
	mux.Handle(p.endpoints.tokenPath, p.route(observe.EndpointToken, p.Token))
	mux.Handle(p.endpoints.revokePath, p.route(observe.EndpointRevocation, p.Revocation))
	mux.Handle(p.endpoints.introspectPath, p.route(observe.EndpointIntrospection, p.Introspection))
	if p.cfg.LoginURL == "" {
		mux.Handle(p.endpoints.loginPath, p.route(observe.EndpointLogin, p.Login))
	}
	if p.device != nil {
		mux.Handle(p.endpoints.deviceAuthorizationPath, p.route(observe.EndpointDeviceAuthorization, p.DeviceAuthorization))
		if p.cfg.LoginURL == "" {
			mux.Handle(p.endpoints.devicePath, p.route(observe.EndpointDevice, p.Device))
		}
	}
	for _, path := range p.endpoints.metadataPaths {
		mux.Handle(path, p.route(observe.EndpointMetadata, p.MetadataHandler))
	}
}

// Handler returns a new http.Handler serving everything Register registers.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	p.Register(mux)
	return mux
}

// MetadataPaths returns the paths (at the host root) where the metadata is served.
func (p *Provider) MetadataPaths() []string {
	return append([]string(nil), p.endpoints.metadataPaths...)
}

// fositeStore is the storage handed to fosite. Its GetClient decides redirect URI
// matching for fosite: an authorization request's redirect URI that is not registered
// as written is added to the client's redirect URIs when it equals a registered
// loopback one except for a valid port (RFC 8252 §7.3, including "localhost", which
// fosite does not cover), else the client is handed over without redirect URIs, so
// that fosite's own looser loopback matching never decides. This is request-scoped:
// it is keyed by a context value that only the authorization endpoint sets.
//
// It also routes refresh token reads and rotations through the grace window
// (Config.RefreshTokenGrace, see grace.go), honours Config.ExactLocalhostRedirects, and
// resolves clients through Config.ClientResolver (client_resolver.go).
type fositeStore struct {
	Storage
	grace          RefreshTokenGrace
	exactLocalhost bool
	resolution     *clientResolution // Config.ClientResolver; nil without one
}

type loopbackRedirectKey struct{}

func withLoopbackRedirect(ctx context.Context, redirectURI string) context.Context {
	if redirectURI == "" {
		return ctx
	}
	return context.WithValue(ctx, loopbackRedirectKey{}, redirectURI)
}

// GetClient implements fosite.ClientManager.
func (s fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := getClient(ctx, s.resolution, s.Storage, id)
	if err != nil {
		return nil, noteStorage(ctx, err)
	}
	requested, _ := ctx.Value(loopbackRedirectKey{}).(string)
	if requested == "" {
		return c, nil
	}
	registered := c.GetRedirectURIs()
	if slices.Contains(registered, requested) {
		return c, nil
	}
	// For this request only, fosite sees the registered list plus the requested URI when
	// it differs from a registered loopback URI in its port alone, else no redirect URI
	// at all: fosite's own loopback matching (any scheme case, decoded paths, any digits
	// as a port) must never decide.
	var uris []string
	for _, r := range registered {
		if matchLoopback(requested, r, !s.exactLocalhost) {
			uris = append(slices.Clone(registered), requested)
			break
		}
	}
	if pc, ok := c.(*Client); ok {
		cp := *pc
		cp.RedirectURIs = uris
		return &cp, nil
	}
	return redirectURIsFor{Client: c, uris: uris}, nil
}

// redirectURIsFor is a client of another type than *Client (from a custom Storage)
// whose redirect URIs are replaced for one authorization request (see GetClient).
type redirectURIsFor struct {
	fosite.Client
	uris []string
}

// GetRedirectURIs implements fosite.Client.
func (c redirectURIsFor) GetRedirectURIs() []string { return c.uris }

// audienceStrategy is fosite's AudienceMatchingStrategy: an audience is acceptable
// when it is a configured resource or in the client's own audience list.
func (p *Provider) audienceStrategy(haystack []string, needle []string) error {
	for _, n := range needle {
		if p.resources[n] || slices.Contains(haystack, n) {
			continue
		}
		return ErrInvalidTarget.WithHintf("The resource %q is not served by this authorization server.", n)
	}
	return nil
}

// deriveKey derives a purpose-specific 32-byte key from a secret.
func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// errorf logs an unexpected error without request details.
func (p *Provider) errorf(ctx context.Context, msg string, err error) {
	p.log.ErrorContext(ctx, msg, slog.String("error", fmt.Sprint(err)))
}
