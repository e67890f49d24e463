package registration

import (
	"encoding/json"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// ClientMetadata are the RFC 7591 §2 client metadata this server stores and echoes.
// Empty members are omitted, never sent as null.
type ClientMetadata struct {
	// RedirectURIs are the redirection URIs for redirect-based flows.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// TokenEndpointAuthMethod is "none", "client_secret_basic", "client_secret_post" or
	// "private_key_jwt" (with JWKS).
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// GrantTypes are the grant types the client may use.
	GrantTypes []string `json:"grant_types,omitempty"`
	// ResponseTypes are the response types the client may use.
	ResponseTypes []string `json:"response_types,omitempty"`
	// ClientName is the human-readable name shown to users.
	ClientName string `json:"client_name,omitempty"`
	// ClientURI is the client's home page.
	ClientURI string `json:"client_uri,omitempty"`
	// LogoURI is the client's logo.
	LogoURI string `json:"logo_uri,omitempty"`
	// Scope is the space-separated list of scopes the client may request.
	Scope string `json:"scope,omitempty"`
	// Contacts are people responsible for the client, usually e-mail addresses.
	Contacts []string `json:"contacts,omitempty"`
	// TOSURI is the client's terms of service.
	TOSURI string `json:"tos_uri,omitempty"`
	// PolicyURI is the client's privacy policy.
	PolicyURI string `json:"policy_uri,omitempty"`
	// SoftwareID identifies the client software across instances.
	SoftwareID string `json:"software_id,omitempty"`
	// SoftwareVersion is the version of the client software.
	SoftwareVersion string `json:"software_version,omitempty"`
	// ApplicationType is "native" or "web" (OpenID Connect Dynamic Registration §2; MCP
	// 2026-07-28 clients send it).
	ApplicationType string `json:"application_type,omitempty"`
	// JWKS is the public key set of a private_key_jwt client (RFC 7523 §2.2), echoed
	// as registered. In a request it is read from ClientRegistrationRequest.JWKS.
	JWKS *jose.JSONWebKeySet `json:"jwks,omitempty"`
	// JWKSURI is where a private_key_jwt client publishes its keys instead (RFC 7591 §2,
	// exactly one of jwks and jwks_uri), fetched through the SSRF guard when the client
	// authenticates (Options.JWKSURI).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// TokenEndpointAuthSigningAlg pins the private_key_jwt assertion algorithm (one of
	// provider.ClientAssertionAlgs()); empty allows them all.
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
}

// ClientRegistrationRequest is the body of an RFC 7591 §3.1 registration request or an
// RFC 7592 §2.2 update request. Members not listed here (internationalised names, mcp-go's
// "resource", …) are ignored.
type ClientRegistrationRequest struct {
	// ClientMetadata is the requested metadata (RFC 7591 §2).
	ClientMetadata
	// JWKS is the jwks member as sent (a JWK Set), parsed by provider.ParseJWKS so that a
	// malformed set is refused as invalid_client_metadata. It shadows
	// ClientMetadata.JWKS, which echoes the stored keys.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// SoftwareStatement is ignored (RFC 7591 §3.1.1 allows servers without support).
	SoftwareStatement string `json:"software_statement,omitempty"`

	// ClientID must equal the client's ID in an RFC 7592 update; ignored on registration.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret, in an RFC 7592 update, must equal the current secret.
	ClientSecret string `json:"client_secret,omitempty"`
	// These server-issued members make an RFC 7592 §2.2 update invalid when present.
	RegistrationAccessToken json.RawMessage `json:"registration_access_token,omitempty"`
	RegistrationClientURI   json.RawMessage `json:"registration_client_uri,omitempty"`
	ClientSecretExpiresAt   json.RawMessage `json:"client_secret_expires_at,omitempty"`
	ClientIDIssuedAt        json.RawMessage `json:"client_id_issued_at,omitempty"`
}

// ClientRegistrationResponse is the RFC 7591 §3.2.1 client information response (also the
// RFC 7592 §3 read and update response): the effective metadata and the credentials.
type ClientRegistrationResponse struct {
	// ClientID is the issued client identifier.
	ClientID string `json:"client_id"`
	// ClientSecret is the secret of a confidential client. It is returned once, at
	// registration (and when an update issues a new one): only its hash is stored.
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientIDIssuedAt is when the client ID was issued, in seconds since the epoch.
	ClientIDIssuedAt int64 `json:"client_id_issued_at,omitempty"`
	// ClientSecretExpiresAt is when the secret expires, in seconds since the epoch; 0
	// means never. Present exactly when the client has a secret.
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	// RegistrationAccessToken authenticates RFC 7592 requests on RegistrationClientURI.
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	// RegistrationClientURI is the RFC 7592 client configuration endpoint.
	RegistrationClientURI string `json:"registration_client_uri,omitempty"`
	ClientMetadata
}

// Error is the RFC 7591 §3.2.2 error response body (registration.Error; it implements error).
type Error struct {
	// ErrorCode is one of the error code constants.
	ErrorCode string `json:"error"`
	// ErrorDescription explains the error for developers; it never echoes secrets.
	ErrorDescription string `json:"error_description,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.ErrorDescription == "" {
		return e.ErrorCode
	}
	return e.ErrorCode + ": " + e.ErrorDescription
}

func metadataError(format string) *Error {
	return &Error{ErrorCode: provider.ErrorCodeInvalidClientMetadata, ErrorDescription: format}
}

func redirectError(description string) *Error {
	return &Error{ErrorCode: provider.ErrorCodeInvalidRedirectURI, ErrorDescription: description}
}
