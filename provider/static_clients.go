package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/lists"
	"github.com/fosite-mcp/fosite-mcp/internal/randid"
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
	// ECDSA P-256 or Ed25519 public keys, each with a kid. Only for private_key_jwt;
	// exactly one of JWKS and JWKSURI.
	JWKS *jose.JSONWebKeySet
	// JWKSURI is where a private_key_jwt client publishes its key set instead (RFC 7591
	// jwks_uri; see ValidateClientJWKSURI), so that it can rotate keys without the
	// operator. Needs Config.ClientKeys (mcp.New sets it).
	JWKSURI string
	// TokenEndpointAuthSigningAlg pins the assertion algorithm (one of
	// ClientAssertionAlgs()); empty allows them all. Only for private_key_jwt.
	TokenEndpointAuthSigningAlg string
	// GrantTypes default to authorization_code and refresh_token. client_credentials
	// needs a confidential client and Config.EnableClientCredentials; GrantTypeDeviceCode
	// needs Config.DeviceAuthorization; GrantTypeJWTBearer (required to present ID-JAGs,
	// else unauthorized_client) needs Config.IdentityAssertions.
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
	c, err := NormalizeClientMetadata(ClientMetadata{
		RedirectURIs:                spec.RedirectURIs,
		TokenEndpointAuthMethod:     spec.TokenEndpointAuthMethod,
		GrantTypes:                  spec.GrantTypes,
		Scopes:                      spec.Scopes,
		ApplicationType:             spec.ApplicationType,
		Name:                        spec.Name,
		URI:                         spec.URI,
		JWKS:                        spec.JWKS,
		JWKSURI:                     spec.JWKSURI,
		TokenEndpointAuthSigningAlg: spec.TokenEndpointAuthSigningAlg,
	}, p.staticClientRules(spec.Public))
	if err != nil {
		return nil, "", fmt.Errorf("provider: %w", err)
	}
	if spec.JWKSURI != "" && c.TokenEndpointAuthMethod != AuthMethodPrivateKeyJWT {
		return nil, "", errors.New("provider: JWKSURI is only for private_key_jwt clients")
	}
	if c.JWKSURI != "" && p.cfg.ClientKeys == nil {
		return nil, "", errors.New("provider: a jwks_uri client needs Config.ClientKeys to fetch its keys")
	}
	now := time.Now().UTC()
	c.ID, c.Source, c.CreatedAt, c.UpdatedAt = spec.ID, ClientSourceStatic, now, now
	if c.ID == "" {
		if c.ID, err = randid.New(randid.Secret); err != nil {
			return nil, "", err
		}
	}
	for _, a := range spec.Audience {
		ca, err := CanonicalResource(a)
		if err != nil {
			return nil, "", fmt.Errorf("provider: audience %q: %w", a, err)
		}
		c.Audience = append(c.Audience, ca)
	}
	secret, err := p.staticSecret(ctx, c, spec, now)
	if err != nil {
		return nil, "", err
	}
	if err := p.store.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// staticClientRules are the ClientRules of static clients: the grants the provider
// enables (client_credentials with Config.EnableClientCredentials, the device grant with
// Config.DeviceAuthorization), authorization_code and refresh_token by default, any
// valid scope (default: every scope the server knows), and for public clients only
// "none", for confidential ones client_secret_basic (default), client_secret_post or
// private_key_jwt.
func (p *Provider) staticClientRules(public bool) ClientRules {
	rules := ClientRules{
		GrantTypes:           p.enabledGrantTypes(),
		DefaultGrantTypes:    []string{"authorization_code", "refresh_token"},
		AuthMethods:          []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT},
		DefaultAuthMethod:    AuthMethodClientSecretBasic,
		RedirectURIRules:     p.cfg.RedirectURIRules,
		DefaultScopes:        p.knownScopes(),
		InferApplicationType: true,
		AllowJWKSURI:         true,
	}
	if public {
		rules.AuthMethods, rules.DefaultAuthMethod = []string{AuthMethodNone}, AuthMethodNone
	}
	return rules
}

// documentClientRules are MetadataDocumentClientRules for resolved clients: the grants
// this provider serves, the scopes it knows (others dropped; all of them when none is
// left), the document's grant types kept as resolved, jwks_uri when the provider fetches
// client keys (Config.ClientKeys).
func (p *Provider) documentClientRules() ClientRules {
	rules := MetadataDocumentClientRules(nil, p.cfg.RedirectURIRules)
	rules.AllowJWKSURI = p.cfg.ClientKeys != nil
	rules.GrantTypes = slices.DeleteFunc(rules.GrantTypes, func(g string) bool { return !slices.Contains(p.enabledGrantTypes(), g) })
	rules.Scopes, rules.DefaultScopes = p.knownScopes(), p.knownScopes()
	return rules
}

// enabledGrantTypes are the grant types this provider serves.
func (p *Provider) enabledGrantTypes() []string {
	grants := []string{"authorization_code", "refresh_token"}
	if p.cfg.EnableClientCredentials {
		grants = append(grants, "client_credentials")
	}
	if p.device != nil {
		grants = append(grants, GrantTypeDeviceCode)
	}
	if p.cfg.IdentityAssertions != nil {
		grants = append(grants, GrantTypeJWTBearer)
	}
	return grants
}

// knownScopes are the scopes this server knows: Config.Scopes and
// Config.RefreshTokenScopes.
func (p *Provider) knownScopes() []string {
	return lists.Dedupe(append(slices.Clone(p.cfg.Scopes), p.cfg.RefreshTokenScopes...))
}

// staticSecret gives a static client of a secret method its secret (spec.Secret, bcrypt
// hashed, or a generated one) and returns it; other methods must not have one.
func (p *Provider) staticSecret(ctx context.Context, c *Client, spec ClientSpec, now time.Time) (string, error) {
	if !AuthMethodUsesSecret(c.TokenEndpointAuthMethod) {
		if spec.Secret != "" {
			return "", fmt.Errorf("provider: a client with token endpoint auth method %s has no secret", c.TokenEndpointAuthMethod)
		}
		return "", nil
	}
	var secret string
	if spec.Secret == "" {
		s, hash, err := GenerateSecret()
		if err != nil {
			return "", err
		}
		secret, c.SecretHash = s, hash
	} else {
		if len(spec.Secret) < 8 || len(spec.Secret) > 72 {
			return "", errors.New("provider: a chosen client secret must be 8 to 72 bytes long")
		}
		hash, err := SecretHasher{}.Hash(ctx, []byte(spec.Secret))
		if err != nil {
			return "", err
		}
		secret, c.SecretHash = spec.Secret, hash
	}
	lifespan := spec.SecretLifespan
	if lifespan == 0 {
		lifespan = p.cfg.ClientSecretLifespan
	}
	if lifespan > 0 {
		c.SecretExpiresAt = now.Add(lifespan)
	}
	return secret, nil
}
