package cimd

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Limits on document contents.
const (
	// MaxClientNameLength is the longest client_name accepted, in characters
	// (provider.MaxClientNameLength: one rule for documents and registrations).
	MaxClientNameLength = provider.MaxClientNameLength
	// MaxRedirectURIs is the most redirect URIs a document may list
	// (provider.MaxMetadataDocumentRedirectURIs).
	MaxRedirectURIs = provider.MaxMetadataDocumentRedirectURIs
)

// Document is a client ID metadata document: RFC 7591 §2 client metadata served at the
// client ID URL (draft-ietf-oauth-client-id-metadata-document-00 §4.1). Members this
// server does not use are ignored.
type Document struct {
	// ClientID must equal the URL the document was fetched from.
	ClientID string `json:"client_id"`
	// ClientName is shown to the user; required.
	ClientName string `json:"client_name"`
	// RedirectURIs are the client's redirect URIs; at least one is required.
	RedirectURIs []string `json:"redirect_uris"`
	// GrantTypes default to Options.DefaultGrantTypes.
	GrantTypes []string `json:"grant_types,omitempty"`
	// ResponseTypes default to ["code"], the only one supported.
	ResponseTypes []string `json:"response_types,omitempty"`
	// TokenEndpointAuthMethod is absent or "none" (a public client), or "private_key_jwt"
	// with JWKS or JWKSURI (RFC 7523 §2.2): never a method with a shared secret.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// JWKS holds the public keys of a private_key_jwt client (a JWK Set, see
	// provider.ValidateClientJWKS); only with that method.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// JWKSURI is where a private_key_jwt client publishes its public keys instead of
	// JWKS (not both): an https URL (provider.ValidateClientJWKSURI), accepted only by a
	// Resolver with Options.JWKSURI (its provider fetches client keys).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// TokenEndpointAuthSigningAlg pins the private_key_jwt assertion algorithm (one of
	// provider.ClientAssertionAlgs()); only with that method.
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
	// Scope is a space-separated list of scopes the client may request.
	Scope string `json:"scope,omitempty"`
	// ApplicationType is "native" or "web"; inferred from the redirect URIs when absent.
	ApplicationType string `json:"application_type,omitempty"`
	// ClientURI is the client's home page (https).
	ClientURI string `json:"client_uri,omitempty"`
	// LogoURI is the client's logo (https).
	LogoURI string `json:"logo_uri,omitempty"`
	// PolicyURI is the client's privacy policy (https).
	PolicyURI string `json:"policy_uri,omitempty"`
	// TOSURI is the client's terms of service (https).
	TOSURI string `json:"tos_uri,omitempty"`
	// Contacts are contact addresses for the client.
	Contacts []string `json:"contacts,omitempty"`
	// SoftwareID identifies the client software.
	SoftwareID string `json:"software_id,omitempty"`
	// SoftwareVersion is the client software's version.
	SoftwareVersion string `json:"software_version,omitempty"`
	// ClientSecret must be absent: a document is public, it cannot carry a secret.
	ClientSecret json.RawMessage `json:"client_secret,omitempty"`
	// ClientSecretExpiresAt must be absent, like ClientSecret.
	ClientSecretExpiresAt json.RawMessage `json:"client_secret_expires_at,omitempty"`
}

// ParseDocument decodes a document and checks it against the client ID it was fetched
// from (see Document.Client); defaultGrantTypes are the grant types of a document
// without grant_types (nil means ["authorization_code"], RFC 7591 §2).
func ParseDocument(clientID string, body []byte, defaultGrantTypes []string) (*provider.Client, error) {
	return parseDocument(clientID, body, provider.MetadataDocumentClientRules(defaultGrantTypes, provider.RedirectURIRules{}))
}

// parseDocument is ParseDocument with the rules to apply (a Resolver's documentRules).
func parseDocument(clientID string, body []byte, rules provider.ClientRules) (*provider.Client, error) {
	var d Document
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, errors.New("the client ID metadata document is not a valid JSON object of client metadata")
	}
	return d.client(clientID, rules)
}

// Client checks the document against draft-ietf-oauth-client-id-metadata-document-00
// §4.1 and this server's rules (provider.MetadataDocumentClientRules, see the package
// documentation) and returns the client it describes: public with token endpoint auth
// method "none", or private_key_jwt with its inline keys; Source
// provider.ClientSourceMetadataDocument. Scopes are those of the scope member (the
// provider keeps the ones it knows). Redirect URIs must pass
// provider.ValidateRedirectURI (the specifications' rules), and jwks_uri is refused; a
// Resolver applies Options.RedirectURIRules and Options.JWKSURI instead.
func (d *Document) Client(clientID string, defaultGrantTypes []string) (*provider.Client, error) {
	return d.client(clientID, provider.MetadataDocumentClientRules(defaultGrantTypes, provider.RedirectURIRules{}))
}

// client is Client with the rules to apply.
func (d *Document) client(clientID string, rules provider.ClientRules) (*provider.Client, error) {
	switch {
	case d.ClientID == "":
		return nil, errors.New("the client ID metadata document has no client_id")
	case d.ClientID != clientID:
		return nil, errors.New("the client ID metadata document's client_id is not the URL it was fetched from")
	case len(d.ClientSecret) > 0 || len(d.ClientSecretExpiresAt) > 0:
		return nil, errors.New("the client ID metadata document must not contain client_secret or client_secret_expires_at")
	}
	jwks, err := provider.ParseJWKS(d.JWKS)
	if err != nil {
		return nil, fmt.Errorf("the client ID metadata document is not acceptable: %w", err)
	}
	c, err := provider.NormalizeClientMetadata(provider.ClientMetadata{
		RedirectURIs:                d.RedirectURIs,
		TokenEndpointAuthMethod:     d.TokenEndpointAuthMethod,
		GrantTypes:                  d.GrantTypes,
		ResponseTypes:               d.ResponseTypes,
		Scopes:                      provider.ParseScope(d.Scope),
		ApplicationType:             d.ApplicationType,
		Name:                        d.ClientName,
		URI:                         d.ClientURI,
		LogoURI:                     d.LogoURI,
		PolicyURI:                   d.PolicyURI,
		TOSURI:                      d.TOSURI,
		Contacts:                    d.Contacts,
		SoftwareID:                  d.SoftwareID,
		SoftwareVersion:             d.SoftwareVersion,
		JWKS:                        jwks,
		JWKSURI:                     d.JWKSURI,
		TokenEndpointAuthSigningAlg: d.TokenEndpointAuthSigningAlg,
	}, rules)
	if err != nil {
		return nil, fmt.Errorf("the client ID metadata document is not acceptable: %w", err)
	}
	c.ID, c.Source = clientID, provider.ClientSourceMetadataDocument
	return c, nil
}
