package registration

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/internal/lists"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// resolve validates requested metadata and returns the effective metadata: RFC 7591 §2
// defaults filled in, lists de-duplicated, scopes filtered (or refused) per o.
func (o *Options) resolve(req *ClientRegistrationRequest) (ClientMetadata, *Error) {
	m := req.ClientMetadata

	// token_endpoint_auth_method: default client_secret_basic (RFC 7591 §2).
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = provider.AuthMethodClientSecretBasic
	}
	if !slices.Contains(o.AuthMethods, m.TokenEndpointAuthMethod) {
		return m, metadataError(fmt.Sprintf("token_endpoint_auth_method %s is not supported (supported: %s)",
			short(m.TokenEndpointAuthMethod), strings.Join(o.AuthMethods, ", ")))
	}
	public := m.TokenEndpointAuthMethod == provider.AuthMethodNone

	// grant_types: default ["authorization_code"] (RFC 7591 §2).
	m.GrantTypes = lists.Dedupe(m.GrantTypes)
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = slices.Clone(o.DefaultGrantTypes)
	}
	for _, g := range m.GrantTypes {
		if !slices.Contains(o.GrantTypes, g) {
			return m, metadataError(fmt.Sprintf("grant type %s is not supported (supported: %s)", short(g), strings.Join(o.GrantTypes, ", ")))
		}
	}
	if public && slices.Contains(m.GrantTypes, grantClientCredentials) {
		return m, metadataError("client_credentials needs a confidential client (token_endpoint_auth_method other than none)")
	}
	codeGrant := slices.Contains(m.GrantTypes, grantAuthorizationCode)

	// response_types: default ["code"] (RFC 7591 §2), for clients of the code grant.
	m.ResponseTypes = lists.Dedupe(m.ResponseTypes)
	if len(m.ResponseTypes) == 0 && codeGrant {
		m.ResponseTypes = []string{responseTypeCode}
	}
	for _, rt := range m.ResponseTypes {
		if rt != responseTypeCode {
			return m, metadataError(fmt.Sprintf("response type %s is not supported (supported: code)", short(rt)))
		}
	}
	// RFC 7591 §2.1: the code response type goes with the authorization_code grant.
	if codeGrant != slices.Contains(m.ResponseTypes, responseTypeCode) {
		return m, metadataError("grant_types and response_types are inconsistent: authorization_code goes with response type code (RFC 7591 §2.1)")
	}

	// redirect_uris: required for the code grant; OAuth 2.1 / RFC 8252 rules.
	m.RedirectURIs = lists.Dedupe(m.RedirectURIs)
	if codeGrant && len(m.RedirectURIs) == 0 {
		return m, redirectError("redirect_uris is required for the authorization_code grant")
	}
	for i, u := range m.RedirectURIs {
		if err := o.RedirectURIRules.Validate(u); err != nil {
			return m, redirectError(fmt.Sprintf("redirect_uris[%d]: %v", i, err))
		}
	}

	// client_name: optional (RFC 7591 §2); shown on consent pages, so one rule with
	// client ID metadata documents (provider.ValidateClientName).
	m.ClientName = strings.TrimSpace(m.ClientName)
	if err := provider.ValidateClientName(m.ClientName); err != nil {
		return m, metadataError(err.Error())
	}
	if m.ClientName == "" && o.NameFromRedirectHost && len(m.RedirectURIs) > 0 {
		m.ClientName = redirectHost(m.RedirectURIs[0])
	}

	// URL members: https (loopback http tolerated), never javascript: and the like.
	for _, f := range []struct{ name, value string }{
		{"client_uri", m.ClientURI}, {"logo_uri", m.LogoURI}, {"policy_uri", m.PolicyURI},
		{"tos_uri", m.TOSURI}, {"jwks_uri", req.JWKSURI},
	} {
		if f.value == "" {
			continue
		}
		if err := validateWebURL(f.value); err != nil {
			return m, metadataError(fmt.Sprintf("%s %v", f.name, err))
		}
	}
	if req.JWKSURI != "" && len(req.JWKS) > 0 && string(req.JWKS) != "null" {
		return m, metadataError("jwks_uri and jwks must not both be present (RFC 7591 §2)")
	}

	switch m.ApplicationType {
	case "", "web", "native":
	default:
		return m, metadataError(fmt.Sprintf("application_type %s is not supported (web or native)", short(m.ApplicationType)))
	}

	scopes, rerr := o.resolveScopes(m.Scope)
	if rerr != nil {
		return m, rerr
	}
	m.Scope = strings.Join(scopes, " ")

	m.Contacts = lists.Dedupe(m.Contacts)
	return m, nil
}

// resolveScopes parses a scope string (RFC 6749 §3.3) and applies the scope policy.
func (o *Options) resolveScopes(scope string) ([]string, *Error) {
	requested := provider.ParseScope(scope)
	var out []string
	for _, s := range requested {
		if !provider.ValidScopeToken(s) {
			return nil, metadataError(fmt.Sprintf("scope %s is not a valid scope token (RFC 6749 §3.3)", short(s)))
		}
		if o.SupportedScopes != nil && !slices.Contains(o.SupportedScopes, s) {
			if o.UnknownScopes == RejectUnknownScopes {
				return nil, metadataError(fmt.Sprintf("scope %s is not supported", short(s)))
			}
			continue // FilterUnknownScopes
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		out = slices.Clone(o.DefaultScopes)
	}
	return out, nil
}

// toClient writes the effective metadata m into c.
func toClient(c *provider.Client, m ClientMetadata) {
	c.RedirectURIs = nonNil(m.RedirectURIs)
	c.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	c.Public = m.TokenEndpointAuthMethod == provider.AuthMethodNone
	c.GrantTypes = nonNil(m.GrantTypes)
	c.ResponseTypes = nonNil(m.ResponseTypes)
	c.Scopes = nonNil(provider.ParseScope(m.Scope))
	c.Name = m.ClientName
	c.URI = m.ClientURI
	c.LogoURI = m.LogoURI
	c.PolicyURI = m.PolicyURI
	c.TOSURI = m.TOSURI
	c.Contacts = nonNil(m.Contacts)
	c.SoftwareID = m.SoftwareID
	c.SoftwareVersion = m.SoftwareVersion
	c.ApplicationType = m.ApplicationType
}

// fromClient returns the metadata stored in c.
func fromClient(c *provider.Client) ClientMetadata {
	return ClientMetadata{
		RedirectURIs:            c.RedirectURIs,
		TokenEndpointAuthMethod: c.GetTokenEndpointAuthMethod(),
		GrantTypes:              c.GrantTypes,
		ResponseTypes:           c.ResponseTypes,
		ClientName:              c.Name,
		ClientURI:               c.URI,
		LogoURI:                 c.LogoURI,
		Scope:                   strings.Join(c.Scopes, " "),
		Contacts:                c.Contacts,
		TOSURI:                  c.TOSURI,
		PolicyURI:               c.PolicyURI,
		SoftwareID:              c.SoftwareID,
		SoftwareVersion:         c.SoftwareVersion,
		ApplicationType:         c.ApplicationType,
	}
}

// redirectHost is the host of a validated redirect URI, or its scheme followed by ':'
// for a private-use URI without a host.
func redirectHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.Hostname() != "" {
		return u.Hostname()
	}
	return u.Scheme + ":"
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// short quotes a client-supplied value for an error description, truncated so that a
// description never carries a large payload back.
func short(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return fmt.Sprintf("%q", s)
}
