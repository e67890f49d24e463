package registration

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Policy says who may register clients.
type Policy int

// Registration policies.
const (
	// PolicyOpen lets anyone register (the MCP default: clients register themselves).
	PolicyOpen Policy = iota
	// PolicyInitialAccessToken requires an initial access token (RFC 7591 §3) in a Bearer
	// Authorization header, checked against Options.InitialAccessTokenHashes.
	PolicyInitialAccessToken
	// PolicyClosed turns registration off: every request gets 404, and
	// [Handler.Advertised] is false so that registration_endpoint is not published.
	PolicyClosed
)

// UnknownScopes says what to do with requested scopes the server does not support.
type UnknownScopes int

// Unknown scope policies.
const (
	// FilterUnknownScopes drops them (default): mcp-remote and others send
	// "openid email profile" by default and would be locked out otherwise.
	FilterUnknownScopes UnknownScopes = iota
	// RejectUnknownScopes answers invalid_client_metadata (strict RFC 7591 §2 reading).
	RejectUnknownScopes
)

// Defaults.
const (
	// DefaultMaxBodyBytes caps a registration request body.
	DefaultMaxBodyBytes = 64 << 10
)

// Options configures [NewHandler].
type Options struct {
	// Endpoint is the absolute URL of the registration endpoint, as published in the
	// authorization server metadata (registration_endpoint). RFC 7592 client
	// configuration endpoints are Endpoint + "/" + client_id. Required.
	Endpoint string

	// Policy says who may register. Default PolicyOpen.
	Policy Policy
	// InitialAccessTokenHashes are the hashes (provider.HashGeneratedSecret) of the
	// initial access tokens accepted under PolicyInitialAccessToken. Generate the tokens
	// with provider.GenerateSecret, hand them to trusted developers and keep only hashes.
	InitialAccessTokenHashes [][]byte

	// SupportedScopes are the scopes clients may register. Nil accepts any syntactically
	// valid scope; set it (for example to resourceserver.Registry.Scopes()) so that clients cannot
	// register scopes no resource knows.
	SupportedScopes []string
	// DefaultScopes are registered when a client asks for none (Claude Code and ChatGPT
	// send no scope), or when every scope it asked for was filtered out. Nil means
	// SupportedScopes.
	DefaultScopes []string
	// UnknownScopes says what happens to requested scopes outside SupportedScopes.
	// Default FilterUnknownScopes.
	UnknownScopes UnknownScopes

	// GrantTypes are the grant types clients may register. Default authorization_code
	// and refresh_token; add client_credentials when the provider enables it, and
	// provider.GrantTypeDeviceCode when it enables the device grant, and
	// provider.GrantTypeJWTBearer when it accepts ID-JAGs (mcp.New adds these two when
	// GrantTypes is nil).
	GrantTypes []string
	// JWKSURI lets private_key_jwt clients register a jwks_uri (their keys by reference)
	// instead of inline jwks; the provider must fetch such keys (provider.Config.ClientKeys).
	// mcp.New sets it when the provider does, which it does by default. Off: jwks_uri is
	// refused for private_key_jwt.
	JWKSURI bool
	// DefaultGrantTypes are registered when a client sends no grant_types. Default
	// ["authorization_code"] as RFC 7591 §2 says; add refresh_token to hand refresh tokens
	// to minimal clients too.
	DefaultGrantTypes []string
	// NameFromRedirectHost, when set, registers a client that sends no client_name under
	// the host of its first redirect URI (for example "localhost" or "chatgpt.com"; the
	// scheme, such as "com.example.app:", for a private-use URI without a host), so that
	// consent pages and client lists can name it by where it sends the user. Off by
	// default: client_name is optional (RFC 7591 §2) and stays empty.
	NameFromRedirectHost bool
	// RedirectURIRules are the rules registered redirect URIs must meet (see
	// provider.RedirectURIRules). The zero value, the default, is the specifications'
	// rules; mcp.New copies provider.Config.RedirectURIRules here, which
	// compat.Options.DotlessClientSchemes extends.
	RedirectURIRules provider.RedirectURIRules
	// AuthMethods are the token endpoint authentication methods clients may register.
	// Default none, client_secret_basic, client_secret_post and private_key_jwt (with
	// inline jwks: RFC 7523 §2.2 assertions signed by the client's keys; no secret is
	// issued).
	AuthMethods []string

	// ClientSecretLifespan is how long a generated client secret is valid
	// (client_secret_expires_at). 0, the default, means never (client_secret_expires_at
	// 0, RFC 7591 §3.2.1). An expiring secret makes the client re-register when it runs
	// out, which bounds the life of a leaked secret.
	ClientSecretLifespan time.Duration
	// MaxBodyBytes caps the request body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DisableManagement turns off RFC 7592 (no registration access token is issued and
	// the client configuration endpoints answer 404).
	DisableManagement bool

	// Logger receives one line per registration, update and deletion (client ID, never a
	// secret) and store failures. Default slog.Default().
	Logger *slog.Logger

	// Observer, when set, is told of every registration, update and deletion
	// (observe.ClientRegistered, ClientUpdated, ClientDeleted): the audit trail and
	// metrics. mcp.New sets it from the provider's. Default nil: none.
	Observer observe.Observer
}

// Grant, response type and method names.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
	responseTypeCode       = "code"
)

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "/") {
		return o, fmt.Errorf("registration: Endpoint %q must be an absolute http(s) URL without query, fragment or trailing slash", o.Endpoint)
	}
	switch o.Policy {
	case PolicyOpen, PolicyClosed:
	case PolicyInitialAccessToken:
		if len(o.InitialAccessTokenHashes) == 0 {
			return o, errors.New("registration: PolicyInitialAccessToken needs InitialAccessTokenHashes")
		}
	default:
		return o, fmt.Errorf("registration: unknown Policy %d", o.Policy)
	}
	for _, s := range slices.Concat(o.SupportedScopes, o.DefaultScopes) {
		if !provider.ValidScopeToken(s) {
			return o, fmt.Errorf("registration: %q is not a valid scope token", s)
		}
	}
	if o.SupportedScopes != nil {
		for _, s := range o.DefaultScopes {
			if !slices.Contains(o.SupportedScopes, s) {
				return o, fmt.Errorf("registration: default scope %q is not supported", s)
			}
		}
	}
	if o.DefaultScopes == nil {
		o.DefaultScopes = o.SupportedScopes
	}
	if o.UnknownScopes != FilterUnknownScopes && o.UnknownScopes != RejectUnknownScopes {
		return o, fmt.Errorf("registration: unknown UnknownScopes %d", o.UnknownScopes)
	}
	if o.GrantTypes == nil {
		o.GrantTypes = []string{grantAuthorizationCode, grantRefreshToken}
	}
	for _, g := range o.GrantTypes {
		if g != grantAuthorizationCode && g != grantRefreshToken && g != grantClientCredentials && g != provider.GrantTypeDeviceCode && g != provider.GrantTypeJWTBearer {
			return o, fmt.Errorf("registration: grant type %q is not supported", g)
		}
	}
	if o.DefaultGrantTypes == nil {
		o.DefaultGrantTypes = []string{grantAuthorizationCode}
	}
	for _, g := range o.DefaultGrantTypes {
		if !slices.Contains(o.GrantTypes, g) {
			return o, fmt.Errorf("registration: default grant type %q is not in GrantTypes", g)
		}
	}
	if o.AuthMethods == nil {
		o.AuthMethods = []string{provider.AuthMethodNone, provider.AuthMethodClientSecretBasic, provider.AuthMethodClientSecretPost, provider.AuthMethodPrivateKeyJWT}
	}
	for _, m := range o.AuthMethods {
		if m != provider.AuthMethodNone && !provider.AuthMethodUsesSecret(m) && m != provider.AuthMethodPrivateKeyJWT {
			return o, fmt.Errorf("registration: token endpoint auth method %q is not supported", m)
		}
	}
	if o.ClientSecretLifespan < 0 {
		return o, errors.New("registration: ClientSecretLifespan must not be negative")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
