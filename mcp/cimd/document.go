package cimd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// Limits on document contents.
const (
	// MaxClientNameLength is the longest client_name accepted, in characters
	// (provider.MaxClientNameLength: one rule for documents and registrations).
	MaxClientNameLength = provider.MaxClientNameLength
	// MaxRedirectURIs is the most redirect URIs a document may list.
	MaxRedirectURIs = 20
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
	// TokenEndpointAuthMethod must be absent or "none".
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
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
	return parseDocument(clientID, body, defaultGrantTypes, provider.RedirectURIRules{})
}

// parseDocument is ParseDocument with the redirect URI rules to apply.
func parseDocument(clientID string, body []byte, defaultGrantTypes []string, rules provider.RedirectURIRules) (*provider.Client, error) {
	var d Document
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, errors.New("the client ID metadata document is not a valid JSON object of client metadata")
	}
	return d.client(clientID, defaultGrantTypes, rules)
}

// Client checks the document against draft-ietf-oauth-client-id-metadata-document-00
// §4.1 and this server's rules (see the package documentation) and returns the client
// it describes: public, token endpoint auth method "none", Source
// provider.ClientSourceMetadataDocument. Scopes are those of the scope member (the
// provider keeps the ones it knows). Redirect URIs must pass
// provider.ValidateRedirectURI (the specifications' rules); a Resolver applies
// Options.RedirectURIRules instead.
func (d *Document) Client(clientID string, defaultGrantTypes []string) (*provider.Client, error) {
	return d.client(clientID, defaultGrantTypes, provider.RedirectURIRules{})
}

// client is Client with the redirect URI rules to apply.
func (d *Document) client(clientID string, defaultGrantTypes []string, rules provider.RedirectURIRules) (*provider.Client, error) {
	switch {
	case d.ClientID == "":
		return nil, errors.New("the client ID metadata document has no client_id")
	case d.ClientID != clientID:
		return nil, errors.New("the client ID metadata document's client_id is not the URL it was fetched from")
	case len(d.ClientSecret) > 0 || len(d.ClientSecretExpiresAt) > 0:
		return nil, errors.New("the client ID metadata document must not contain client_secret or client_secret_expires_at")
	}
	name := strings.TrimSpace(d.ClientName)
	if name == "" {
		return nil, errors.New("the client ID metadata document has no client_name")
	}
	if err := provider.ValidateClientName(name); err != nil {
		return nil, fmt.Errorf("the client ID metadata document's %v", err)
	}
	switch d.TokenEndpointAuthMethod {
	case "", provider.AuthMethodNone:
	case provider.AuthMethodClientSecretBasic, provider.AuthMethodClientSecretPost, "client_secret_jwt":
		return nil, fmt.Errorf("the client ID metadata document's token_endpoint_auth_method %q needs a shared secret, which a document cannot have", d.TokenEndpointAuthMethod)
	default:
		return nil, fmt.Errorf("the client ID metadata document's token_endpoint_auth_method %q is not supported (only none)", d.TokenEndpointAuthMethod)
	}
	if len(d.RedirectURIs) == 0 {
		return nil, errors.New("the client ID metadata document has no redirect_uris")
	}
	if len(d.RedirectURIs) > MaxRedirectURIs {
		return nil, errors.New("the client ID metadata document lists too many redirect_uris")
	}
	for _, u := range d.RedirectURIs {
		if err := rules.Validate(u); err != nil {
			return nil, fmt.Errorf("the client ID metadata document's redirect URI %q is not allowed: %v", u, err)
		}
	}
	grants := d.GrantTypes
	if len(grants) == 0 {
		grants = defaultGrantTypes
		if len(grants) == 0 {
			grants = []string{"authorization_code"}
		}
	}
	for _, g := range grants {
		// The jwt-bearer grant (ID-JAG) is informative: the IdP's client_id claim
		// authorizes the client, so listing it must not make the document invalid.
		if g != "authorization_code" && g != "refresh_token" && g != provider.GrantTypeDeviceCode && g != provider.GrantTypeJWTBearer {
			return nil, fmt.Errorf("the client ID metadata document's grant type %q is not supported", g)
		}
	}
	if !slices.Contains(grants, "authorization_code") {
		return nil, errors.New("the client ID metadata document's grant_types must include authorization_code")
	}
	for _, rt := range d.ResponseTypes {
		if rt != "code" {
			return nil, fmt.Errorf("the client ID metadata document's response type %q is not supported (only code)", rt)
		}
	}
	switch d.ApplicationType {
	case "", "native", "web":
	default:
		return nil, fmt.Errorf("the client ID metadata document's application_type %q must be native or web", d.ApplicationType)
	}
	for _, f := range []struct{ name, value string }{
		{"client_uri", d.ClientURI}, {"logo_uri", d.LogoURI}, {"policy_uri", d.PolicyURI}, {"tos_uri", d.TOSURI},
	} {
		if f.value == "" {
			continue
		}
		if u, err := url.Parse(f.value); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("the client ID metadata document's %s must be an https URL", f.name)
		}
	}
	var scopes []string
	for _, s := range strings.Split(d.Scope, " ") {
		if s == "" {
			continue
		}
		if !provider.ValidScopeToken(s) {
			return nil, errors.New("the client ID metadata document's scope is malformed")
		}
		scopes = append(scopes, s)
	}
	return &provider.Client{
		ID:                      clientID,
		Public:                  true,
		TokenEndpointAuthMethod: provider.AuthMethodNone,
		RedirectURIs:            slices.Clone(d.RedirectURIs),
		GrantTypes:              dedupe(grants),
		ResponseTypes:           []string{"code"},
		Scopes:                  dedupe(scopes),
		ApplicationType:         d.ApplicationType,
		Name:                    name,
		URI:                     d.ClientURI,
		LogoURI:                 d.LogoURI,
		PolicyURI:               d.PolicyURI,
		TOSURI:                  d.TOSURI,
		Contacts:                slices.Clone(d.Contacts),
		SoftwareID:              d.SoftwareID,
		SoftwareVersion:         d.SoftwareVersion,
		Source:                  provider.ClientSourceMetadataDocument,
	}, nil
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
