package provider

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// AuthorizationServerMetadata is the RFC 8414 §2 metadata document. Empty fields are
// omitted: no field is ever null.
type AuthorizationServerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ServiceDocumentation                       string   `json:"service_documentation,omitempty"`
	UILocalesSupported                         []string `json:"ui_locales_supported,omitempty"`
	OPPolicyURI                                string   `json:"op_policy_uri,omitempty"`
	OPTOSURI                                   string   `json:"op_tos_uri,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported,omitempty"`
	ProtectedResources                         []string `json:"protected_resources,omitempty"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint,omitempty"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests,omitempty"`
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
	m.CodeChallengeMethodsSupported = clone(m.CodeChallengeMethodsSupported)
	m.ProtectedResources = clone(m.ProtectedResources)
	return &m
}

func (p *Provider) buildMetadata() AuthorizationServerMetadata {
	grants := []string{"authorization_code", "refresh_token"}
	if p.cfg.EnableClientCredentials {
		grants = append(grants, "client_credentials")
	}
	scopes := dedupe(append(append([]string{}, p.cfg.Scopes...), p.cfg.RefreshTokenScopes...))
	return AuthorizationServerMetadata{
		Issuer:                                     p.cfg.Issuer,
		AuthorizationEndpoint:                      p.endpoints.authorize,
		TokenEndpoint:                              p.endpoints.token,
		ScopesSupported:                            scopes,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        grants,
		TokenEndpointAuthMethodsSupported:          []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodNone},
		RevocationEndpoint:                         p.endpoints.revoke,
		RevocationEndpointAuthMethodsSupported:     []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodNone},
		IntrospectionEndpoint:                      p.endpoints.introspect,
		IntrospectionEndpointAuthMethodsSupported:  []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseISSParameterSupported: true,
		ProtectedResources:                         append([]string(nil), p.cfg.Resources...),
	}
}

// MetadataHandler serves the RFC 8414 metadata document (GET, HEAD and CORS preflight;
// other methods get 405 with Allow).
func (p *Provider) MetadataHandler(w http.ResponseWriter, r *http.Request) {
	if cors(w, r, "GET, HEAD, OPTIONS") {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		p.methodNotAllowed(w, "GET, HEAD, OPTIONS")
		return
	}
	body, err := json.Marshal(p.metadata)
	if err != nil {
		p.writeJSONError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(body)
}
