package provider

import (
	"slices"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// Token endpoint authentication methods (RFC 7591 §2) this server understands.
const (
	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	// AuthMethodPrivateKeyJWT is RFC 7523 §2.2 client authentication with a JWT signed by
	// one of the client's keys (Client.JWKS); see clientjwt.go for the rules enforced.
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// ClientSource says how a client came to exist.
type ClientSource string

// Client sources.
const (
	// ClientSourceStatic is a client created by the operator through the API.
	ClientSourceStatic ClientSource = "static"
	// ClientSourceDynamic is a client registered over RFC 7591 dynamic client registration.
	ClientSourceDynamic ClientSource = "dynamic"
	// ClientSourceMetadataDocument is a client whose client_id is a URL and whose metadata
	// comes from the document at that URL (OAuth Client ID Metadata Document), stored by
	// the provider when Config.ClientResolver resolved it; see ClientResolver.
	ClientSourceMetadataDocument ClientSource = "metadata_document"
)

// Client is an OAuth client as this server stores it. It implements fosite.Client and
// fosite.OpenIDConnectClient (the latter so that fosite enforces TokenEndpointAuthMethod).
//
// Secrets are never stored: SecretHash holds the output of the provider's secret hasher
// ("sha256$…" for generated secrets, a bcrypt hash for human-chosen ones).
type Client struct {
	// ID is the client_id.
	ID string
	// SecretHash is the hashed client secret; nil for public clients.
	SecretHash []byte
	// SecretExpiresAt is when the secret stops working; the zero time means never.
	SecretExpiresAt time.Time
	// Public is true for clients without a secret (token_endpoint_auth_method "none").
	Public bool
	// TokenEndpointAuthMethod is one of the AuthMethod constants.
	TokenEndpointAuthMethod string
	// JWKS holds the public keys a private_key_jwt client signs its assertions with
	// (RFC 7523 §2.2); nil for every other method and for a client with JWKSURI.
	JWKS *jose.JSONWebKeySet
	// JWKSURI is where a private_key_jwt client publishes its keys instead of JWKS
	// (RFC 7591 jwks_uri; exactly one of the two is set), fetched through
	// Config.ClientKeys; empty for every other client.
	JWKSURI string
	// TokenEndpointAuthSigningAlg pins the one algorithm the client's assertions may use
	// (RFC 7591 token_endpoint_auth_signing_alg); empty allows every ClientAssertionAlgs() entry.
	TokenEndpointAuthSigningAlg string
	// RedirectURIs are the registered redirect URIs.
	RedirectURIs []string
	// GrantTypes are the grant types the client may use.
	GrantTypes []string
	// ResponseTypes are the response types the client may use.
	ResponseTypes []string
	// Scopes are the scopes the client may be granted.
	Scopes []string
	// Audience lists resources the client may request besides the server's resource registry.
	Audience []string
	// ApplicationType is "native" or "web" (RFC 7591 / OIDC registration).
	ApplicationType string
	// Name is the human-readable client_name.
	Name string
	// URI is the client_uri.
	URI string
	// LogoURI is the logo_uri.
	LogoURI string
	// PolicyURI is the policy_uri.
	PolicyURI string
	// TOSURI is the tos_uri.
	TOSURI string
	// Contacts are the registered contact addresses.
	Contacts []string
	// SoftwareID is the software_id.
	SoftwareID string
	// SoftwareVersion is the software_version.
	SoftwareVersion string
	// Source says how the client was created.
	Source ClientSource
	// RegistrationAccessTokenHash is the SHA-256 of the RFC 7592 registration access token; nil when none.
	RegistrationAccessTokenHash []byte
	// CreatedAt is when the client was created.
	CreatedAt time.Time
	// UpdatedAt is when the client was last changed.
	UpdatedAt time.Time
	// LastUsedAt is when the client last obtained a token; zero when never.
	LastUsedAt time.Time
}

var (
	_ fosite.Client              = (*Client)(nil)
	_ fosite.OpenIDConnectClient = (*Client)(nil)
)

// GetID implements fosite.Client.
func (c *Client) GetID() string { return c.ID }

// GetHashedSecret implements fosite.Client. An expired secret yields nil, so that
// client authentication fails with invalid_client (fosite does not check expiry itself).
func (c *Client) GetHashedSecret() []byte {
	if !c.SecretExpiresAt.IsZero() && !time.Now().Before(c.SecretExpiresAt) {
		return nil
	}
	return c.SecretHash
}

// GetRedirectURIs implements fosite.Client.
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs }

// GetGrantTypes implements fosite.Client.
func (c *Client) GetGrantTypes() fosite.Arguments { return c.GrantTypes }

// GetResponseTypes implements fosite.Client.
func (c *Client) GetResponseTypes() fosite.Arguments { return c.ResponseTypes }

// GetScopes implements fosite.Client.
func (c *Client) GetScopes() fosite.Arguments { return c.Scopes }

// IsPublic implements fosite.Client.
func (c *Client) IsPublic() bool { return c.Public }

// GetAudience implements fosite.Client.
func (c *Client) GetAudience() fosite.Arguments { return c.Audience }

// GetRequestURIs implements fosite.OpenIDConnectClient; request objects are not supported.
func (c *Client) GetRequestURIs() []string { return nil }

// GetJSONWebKeys implements fosite.OpenIDConnectClient: the private_key_jwt keys, if any.
func (c *Client) GetJSONWebKeys() *jose.JSONWebKeySet { return c.JWKS }

// GetJSONWebKeysURI implements fosite.OpenIDConnectClient: the private_key_jwt jwks_uri, if any.
func (c *Client) GetJSONWebKeysURI() string { return c.JWKSURI }

// GetRequestObjectSigningAlgorithm implements fosite.OpenIDConnectClient.
func (c *Client) GetRequestObjectSigningAlgorithm() string { return "" }

// GetTokenEndpointAuthMethod implements fosite.OpenIDConnectClient.
func (c *Client) GetTokenEndpointAuthMethod() string {
	if c.TokenEndpointAuthMethod == "" {
		if c.Public {
			return AuthMethodNone
		}
		return AuthMethodClientSecretBasic
	}
	return c.TokenEndpointAuthMethod
}

// GetTokenEndpointAuthSigningAlgorithm implements fosite.OpenIDConnectClient.
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string {
	return c.TokenEndpointAuthSigningAlg
}

// Clone returns a deep copy of c (its slices are copied too), for code that keeps a client
// and hands it out, such as caches.
func (c *Client) Clone() *Client {
	cp := *c
	// The string slices share one new backing array (caches clone on every lookup), each
	// capped at its own length so that appending to one never writes into the next.
	lists := []*[]string{&cp.RedirectURIs, &cp.GrantTypes, &cp.ResponseTypes, &cp.Scopes, &cp.Audience, &cp.Contacts}
	n := 0
	for _, l := range lists {
		n += len(*l)
	}
	buf := make([]string, 0, n)
	for _, l := range lists {
		if *l == nil {
			continue
		}
		if len(*l) == 0 {
			*l = (*l)[:0:0] // empty and not nil, as in c
			continue
		}
		start := len(buf)
		buf = append(buf, *l...)
		*l = buf[start:len(buf):len(buf)]
	}
	cp.SecretHash = slices.Clone(c.SecretHash)
	cp.RegistrationAccessTokenHash = slices.Clone(c.RegistrationAccessTokenHash)
	if c.JWKS != nil {
		cp.JWKS = &jose.JSONWebKeySet{Keys: slices.Clone(c.JWKS.Keys)}
	}
	return &cp
}
