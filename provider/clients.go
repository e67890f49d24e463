package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// ClientSpec describes a static (pre-registered) client for CreateClient.
type ClientSpec struct {
	// ID is the client_id; empty means a random one.
	ID string
	// Name is the client_name shown on the consent page (see ValidateClientName).
	Name string
	// URI is the client's home page (client_uri).
	URI string
	// RedirectURIs are the allowed redirect URIs (see Config.RedirectURIRules); required
	// for the authorization_code grant. Loopback URIs match on any port.
	RedirectURIs []string
	// Public marks a client without a secret (native apps, SPAs, most MCP clients); its
	// token_endpoint_auth_method is "none".
	Public bool
	// Secret is a human-chosen secret for a confidential client (8 to 72 bytes), stored
	// as a bcrypt hash. Empty means a generated 256-bit secret (stored as SHA-256),
	// returned once by CreateClient. Must be empty for public clients.
	Secret string
	// SecretLifespan is how long the secret stays valid. 0 means
	// Config.ClientSecretLifespan (90 days by default); negative means never.
	SecretLifespan time.Duration
	// TokenEndpointAuthMethod is client_secret_basic (default for confidential
	// clients), client_secret_post or private_key_jwt (needs JWKS; no secret is made);
	// "none" for public clients.
	TokenEndpointAuthMethod string
	// JWKS is the public key set of a private_key_jwt client (RFC 7523 §2.2): RSA,
	// ECDSA P-256 or Ed25519 public keys, each with a kid. Only for private_key_jwt.
	JWKS *jose.JSONWebKeySet
	// TokenEndpointAuthSigningAlg pins the assertion algorithm (one of
	// ClientAssertionAlgs()); empty allows them all. Only for private_key_jwt.
	TokenEndpointAuthSigningAlg string
	// GrantTypes default to authorization_code and refresh_token. client_credentials
	// needs a confidential client and Config.EnableClientCredentials; GrantTypeDeviceCode
	// needs Config.DeviceAuthorization; GrantTypeJWTBearer (informative: the ID-JAG's
	// client_id claim authorizes the client) needs Config.IdentityAssertions.
	GrantTypes []string
	// Scopes the client may be granted; default Config.Scopes plus
	// Config.RefreshTokenScopes.
	Scopes []string
	// Audience lists extra resources the client may request (RFC 8707) besides
	// Config.Resources.
	Audience []string
	// ApplicationType is "web" or "native"; default "native" when every redirect URI is
	// a loopback or private-use URI, else "web".
	ApplicationType string
}

// CreateClient registers a static client. For confidential clients it returns the
// plaintext secret (the generated one, or spec.Secret); it is not stored and cannot be
// retrieved again. ErrClientExists when the ID is taken.
func (p *Provider) CreateClient(ctx context.Context, spec ClientSpec) (*Client, string, error) {
	now := time.Now().UTC()
	c := &Client{
		ID:                      spec.ID,
		Name:                    spec.Name,
		URI:                     spec.URI,
		RedirectURIs:            append([]string{}, spec.RedirectURIs...),
		Public:                  spec.Public,
		TokenEndpointAuthMethod: spec.TokenEndpointAuthMethod,
		GrantTypes:              append([]string{}, spec.GrantTypes...),
		Scopes:                  append([]string{}, spec.Scopes...),
		ApplicationType:         spec.ApplicationType,
		Source:                  ClientSourceStatic,
		CreatedAt:               now,
		UpdatedAt:               now,
	}
	if err := ValidateClientName(c.Name); err != nil {
		return nil, "", fmt.Errorf("provider: %w", err)
	}
	if c.ID == "" {
		id, err := randomID()
		if err != nil {
			return nil, "", err
		}
		c.ID = id
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if len(spec.Scopes) == 0 {
		c.Scopes = dedupe(append(append([]string{}, p.cfg.Scopes...), p.cfg.RefreshTokenScopes...))
	}
	for _, s := range c.Scopes {
		if !ValidScopeToken(s) {
			return nil, "", fmt.Errorf("provider: invalid scope %q", s)
		}
	}
	for _, a := range spec.Audience {
		ca, err := CanonicalResource(a)
		if err != nil {
			return nil, "", fmt.Errorf("provider: audience %q: %w", a, err)
		}
		c.Audience = append(c.Audience, ca)
	}
	hasCode := false
	for _, g := range c.GrantTypes {
		switch g {
		case "authorization_code":
			hasCode = true
		case "refresh_token":
		case "client_credentials":
			if !p.cfg.EnableClientCredentials {
				return nil, "", errors.New("provider: client_credentials is not enabled (Config.EnableClientCredentials)")
			}
			if spec.Public {
				return nil, "", errors.New("provider: client_credentials needs a confidential client")
			}
		case GrantTypeDeviceCode:
			if p.device == nil {
				return nil, "", errors.New("provider: the device_code grant is not enabled (Config.DeviceAuthorization)")
			}
		case GrantTypeJWTBearer:
			if p.cfg.IdentityAssertions == nil {
				return nil, "", errors.New("provider: the jwt-bearer grant is not enabled (Config.IdentityAssertions)")
			}
		default:
			return nil, "", fmt.Errorf("provider: unsupported grant type %q", g)
		}
	}
	if hasCode {
		c.ResponseTypes = []string{"code"}
		if len(c.RedirectURIs) == 0 {
			return nil, "", errors.New("provider: the authorization_code grant needs at least one redirect URI")
		}
	}
	native := len(c.RedirectURIs) > 0
	for _, u := range c.RedirectURIs {
		if err := p.cfg.RedirectURIRules.Validate(u); err != nil {
			return nil, "", fmt.Errorf("provider: redirect URI %q: %w", u, err)
		}
		if isHTTPS(u) {
			native = false
		}
	}
	if c.ApplicationType == "" {
		c.ApplicationType = "web"
		if native {
			c.ApplicationType = "native"
		}
	} else if c.ApplicationType != "web" && c.ApplicationType != "native" {
		return nil, "", fmt.Errorf("provider: application type %q must be web or native", c.ApplicationType)
	}

	var secret string
	if spec.Public {
		if spec.Secret != "" {
			return nil, "", errors.New("provider: a public client has no secret")
		}
		if c.TokenEndpointAuthMethod == "" {
			c.TokenEndpointAuthMethod = AuthMethodNone
		}
		if c.TokenEndpointAuthMethod != AuthMethodNone {
			return nil, "", errors.New("provider: a public client's token endpoint auth method is none")
		}
	} else {
		switch c.TokenEndpointAuthMethod {
		case "":
			c.TokenEndpointAuthMethod = AuthMethodClientSecretBasic
		case AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		case AuthMethodPrivateKeyJWT:
		default:
			return nil, "", fmt.Errorf("provider: unsupported token endpoint auth method %q for a confidential client", c.TokenEndpointAuthMethod)
		}
		if c.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT {
			if spec.Secret != "" {
				return nil, "", errors.New("provider: a private_key_jwt client has no secret")
			}
			keys, err := ValidateClientJWKS(spec.JWKS, spec.TokenEndpointAuthSigningAlg)
			if err != nil {
				return nil, "", fmt.Errorf("provider: %w", err)
			}
			c.JWKS, c.TokenEndpointAuthSigningAlg = keys, spec.TokenEndpointAuthSigningAlg
		} else if spec.JWKS != nil || spec.TokenEndpointAuthSigningAlg != "" {
			return nil, "", errors.New("provider: JWKS and TokenEndpointAuthSigningAlg are only for private_key_jwt clients")
		} else if spec.Secret == "" {
			s, hash, err := GenerateSecret()
			if err != nil {
				return nil, "", err
			}
			secret, c.SecretHash = s, hash
		} else {
			if len(spec.Secret) < 8 || len(spec.Secret) > 72 {
				return nil, "", errors.New("provider: a chosen client secret must be 8 to 72 bytes long")
			}
			hash, err := SecretHasher{}.Hash(ctx, []byte(spec.Secret))
			if err != nil {
				return nil, "", err
			}
			secret, c.SecretHash = spec.Secret, hash
		}
		lifespan := spec.SecretLifespan
		if lifespan == 0 {
			lifespan = p.cfg.ClientSecretLifespan
		}
		if lifespan > 0 && c.SecretHash != nil {
			c.SecretExpiresAt = now.Add(lifespan)
		}
	}
	if err := p.store.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

func isHTTPS(u string) bool {
	return len(u) >= 8 && u[:8] == "https://"
}
