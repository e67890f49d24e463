package provider

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/fosite-mcp/fosite-mcp/internal/jsondoc"
)

// AuthorizationServerMetadata is the RFC 8414 §2 metadata document. Empty fields are
// omitted: no field is ever null.
type AuthorizationServerMetadata struct {
	// Issuer is the issuer identifier, byte-identical to Config.Issuer (RFC 8414 §3.3).
	Issuer string `json:"issuer"`
	// AuthorizationEndpoint is the authorization endpoint URL.
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	// TokenEndpoint is the token endpoint URL.
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// JWKSURI is the JSON Web Key Set URL (set by a JWT access-token extension).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// RegistrationEndpoint is the RFC 7591 dynamic client registration endpoint (set by the MCP layer).
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`
	// ScopesSupported is the scopes this server knows.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// ResponseTypesSupported is always ["code"] (required by RFC 8414 and the TypeScript SDK).
	ResponseTypesSupported []string `json:"response_types_supported"`
	// ResponseModesSupported is ["query"].
	ResponseModesSupported []string `json:"response_modes_supported,omitempty"`
	// GrantTypesSupported lists the enabled grant types.
	GrantTypesSupported []string `json:"grant_types_supported,omitempty"`
	// TokenEndpointAuthMethodsSupported lists the client authentication methods of the token endpoint.
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	// TokenEndpointAuthSigningAlgValuesSupported lists the private_key_jwt assertion algorithms.
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	// ServiceDocumentation is a URL of human-readable documentation.
	ServiceDocumentation string `json:"service_documentation,omitempty"`
	// UILocalesSupported lists the UI languages.
	UILocalesSupported []string `json:"ui_locales_supported,omitempty"`
	// OPPolicyURI is the server's policy URL.
	OPPolicyURI string `json:"op_policy_uri,omitempty"`
	// OPTOSURI is the server's terms of service URL.
	OPTOSURI string `json:"op_tos_uri,omitempty"`
	// RevocationEndpoint is the RFC 7009 revocation endpoint URL.
	RevocationEndpoint string `json:"revocation_endpoint,omitempty"`
	// RevocationEndpointAuthMethodsSupported lists the client authentication methods of the revocation endpoint.
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	// RevocationEndpointAuthSigningAlgValuesSupported lists the private_key_jwt assertion
	// algorithms at the revocation endpoint (RFC 8414 §2: it MUST be present when
	// private_key_jwt is in RevocationEndpointAuthMethodsSupported).
	RevocationEndpointAuthSigningAlgValuesSupported []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	// IntrospectionEndpoint is the RFC 7662 introspection endpoint URL.
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
	// IntrospectionEndpointAuthMethodsSupported lists the client authentication methods of the introspection endpoint.
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	// IntrospectionEndpointAuthSigningAlgValuesSupported lists the private_key_jwt
	// assertion algorithms at the introspection endpoint (RFC 8414 §2: it MUST be present
	// when private_key_jwt is in IntrospectionEndpointAuthMethodsSupported).
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	// CodeChallengeMethodsSupported is always ["S256"] (MCP clients refuse metadata without it).
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	// AuthorizationResponseISSParameterSupported is true: every authorization response carries iss (RFC 9207).
	AuthorizationResponseISSParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// ClientIDMetadataDocumentSupported advertises client ID metadata documents (set by the MCP layer).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// ProtectedResources lists the configured RFC 8707 resources (RFC 9728 §4).
	ProtectedResources []string `json:"protected_resources,omitempty"`
	// DeviceAuthorizationEndpoint is the RFC 8628 device authorization endpoint (for extensions).
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// PushedAuthorizationRequestEndpoint is the RFC 9126 PAR endpoint (for extensions).
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	// AuthorizationGrantProfilesSupported lists the authorization grant profiles accepted
	// with the JWT bearer grant: GrantProfileIDJAG with Config.IdentityAssertions
	// (draft-ietf-oauth-identity-assertion-authz-grant §7.2).
	AuthorizationGrantProfilesSupported []string `json:"authorization_grant_profiles_supported,omitempty"`
	// RequirePushedAuthorizationRequests says PAR is required (for extensions).
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
}

// Metadata returns a copy of the RFC 8414 metadata document, computed from the
// configuration (and Config.EditMetadata).
func (p *Provider) Metadata() *AuthorizationServerMetadata {
	m := p.metadata
	clone := func(s []string) []string {
		if s == nil {
			return nil
		}
		return append([]string{}, s...)
	}
	m.ScopesSupported = clone(m.ScopesSupported)
	m.ResponseTypesSupported = clone(m.ResponseTypesSupported)
	m.ResponseModesSupported = clone(m.ResponseModesSupported)
	m.GrantTypesSupported = clone(m.GrantTypesSupported)
	m.TokenEndpointAuthMethodsSupported = clone(m.TokenEndpointAuthMethodsSupported)
	m.TokenEndpointAuthSigningAlgValuesSupported = clone(m.TokenEndpointAuthSigningAlgValuesSupported)
	m.UILocalesSupported = clone(m.UILocalesSupported)
	m.RevocationEndpointAuthMethodsSupported = clone(m.RevocationEndpointAuthMethodsSupported)
	m.IntrospectionEndpointAuthMethodsSupported = clone(m.IntrospectionEndpointAuthMethodsSupported)
	m.RevocationEndpointAuthSigningAlgValuesSupported = clone(m.RevocationEndpointAuthSigningAlgValuesSupported)
	m.IntrospectionEndpointAuthSigningAlgValuesSupported = clone(m.IntrospectionEndpointAuthSigningAlgValuesSupported)
	m.CodeChallengeMethodsSupported = clone(m.CodeChallengeMethodsSupported)
	m.ProtectedResources = clone(m.ProtectedResources)
	m.AuthorizationGrantProfilesSupported = clone(m.AuthorizationGrantProfilesSupported)
	return &m
}

func (p *Provider) buildMetadata() AuthorizationServerMetadata {
	grants := p.enabledGrantTypes()
	device := ""
	if p.device != nil {
		device = p.endpoints.deviceAuthorization
	}
	var profiles []string
	if p.cfg.IdentityAssertions != nil {
		grants = append(grants, GrantTypeJWTBearer)
		profiles = []string{GrantProfileIDJAG}
	}
	scopes := p.knownScopes()
	return AuthorizationServerMetadata{
		Issuer:                                             p.cfg.Issuer,
		AuthorizationEndpoint:                              p.endpoints.authorize,
		TokenEndpoint:                                      p.endpoints.token,
		ScopesSupported:                                    scopes,
		ResponseTypesSupported:                             []string{"code"},
		ResponseModesSupported:                             []string{"query"},
		GrantTypesSupported:                                grants,
		TokenEndpointAuthMethodsSupported:                  []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT, AuthMethodNone},
		TokenEndpointAuthSigningAlgValuesSupported:         ClientAssertionAlgs(),
		RevocationEndpoint:                                 p.endpoints.revoke,
		RevocationEndpointAuthMethodsSupported:             []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT, AuthMethodNone},
		RevocationEndpointAuthSigningAlgValuesSupported:    ClientAssertionAlgs(),
		IntrospectionEndpoint:                              p.endpoints.introspect,
		IntrospectionEndpointAuthMethodsSupported:          []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT},
		IntrospectionEndpointAuthSigningAlgValuesSupported: ClientAssertionAlgs(),
		CodeChallengeMethodsSupported:                      []string{"S256"},
		AuthorizationResponseISSParameterSupported:         true,
		ProtectedResources:                                 append([]string(nil), p.cfg.Resources...),
		DeviceAuthorizationEndpoint:                        device,
		AuthorizationGrantProfilesSupported:                profiles,
	}
}

// MetadataHandler serves the RFC 8414 metadata document (GET, HEAD and CORS preflight;
// other methods get 405 with Allow and an OAuth JSON error).
func (p *Provider) MetadataHandler(w http.ResponseWriter, r *http.Request) {
	p.metadataDoc.ServeHTTP(w, r)
}

// metadataCacheControl lets clients and proxies cache the metadata for an hour.
const metadataCacheControl = "public, max-age=3600"

// newMetadataDoc encodes the metadata, fixed once New has run, and returns the handler
// serving it.
func (p *Provider) newMetadataDoc() (http.Handler, error) {
	body, err := json.Marshal(p.metadata)
	if err != nil {
		return nil, fmt.Errorf("provider: encoding the metadata: %w", err)
	}
	return jsondoc.Handler(metadataCacheControl, func(*http.Request) []byte { return body }, &jsondoc.Options{
		MethodNotAllowed: func(w http.ResponseWriter, _ *http.Request) { p.methodNotAllowed(w, jsondoc.Allow) },
	}), nil
}
