package registration

import (
	"errors"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// resolve checks requested metadata with provider.NormalizeClientMetadata under the
// registration rules (clientRules) and returns the client it describes (metadata only:
// no ID, secret or times).
func (o *Options) resolve(req *ClientRegistrationRequest) (*provider.Client, *Error) {
	jwks, err := provider.ParseJWKS(req.JWKS)
	if err != nil {
		return nil, asError(err)
	}
	m := req.ClientMetadata
	c, err := provider.NormalizeClientMetadata(provider.ClientMetadata{
		RedirectURIs:                m.RedirectURIs,
		TokenEndpointAuthMethod:     m.TokenEndpointAuthMethod,
		GrantTypes:                  m.GrantTypes,
		ResponseTypes:               m.ResponseTypes,
		Scopes:                      provider.ParseScope(m.Scope),
		ApplicationType:             m.ApplicationType,
		Name:                        m.ClientName,
		URI:                         m.ClientURI,
		LogoURI:                     m.LogoURI,
		PolicyURI:                   m.PolicyURI,
		TOSURI:                      m.TOSURI,
		Contacts:                    m.Contacts,
		SoftwareID:                  m.SoftwareID,
		SoftwareVersion:             m.SoftwareVersion,
		JWKS:                        jwks,
		JWKSURI:                     req.JWKSURI,
		TokenEndpointAuthSigningAlg: m.TokenEndpointAuthSigningAlg,
	}, o.clientRules())
	if err != nil {
		return nil, asError(err)
	}
	return c, nil
}

// asError is the RFC 7591 §3.2.2 body of a provider.ClientMetadataError.
func asError(err error) *Error {
	var merr *provider.ClientMetadataError
	if errors.As(err, &merr) {
		return &Error{ErrorCode: merr.Code, ErrorDescription: merr.Description}
	}
	return metadataError(err.Error())
}

// clientRules are the provider.ClientRules of registered clients: Options.GrantTypes
// (default grants Options.DefaultGrantTypes, RFC 7591 §2), Options.AuthMethods with
// client_secret_basic by default (RFC 7591 §2), Options.RedirectURIRules, the scope
// policy of Options (SupportedScopes, DefaultScopes, UnknownScopes), client_name from
// the redirect host with NameFromRedirectHost, http URLs on loopback hosts tolerated,
// and application_type echoed as sent.
func (o *Options) clientRules() provider.ClientRules {
	return provider.ClientRules{
		GrantTypes:           o.GrantTypes,
		DefaultGrantTypes:    o.DefaultGrantTypes,
		AuthMethods:          o.AuthMethods,
		DefaultAuthMethod:    provider.AuthMethodClientSecretBasic,
		RedirectURIRules:     o.RedirectURIRules,
		NameFromRedirectHost: o.NameFromRedirectHost,
		Scopes:               o.SupportedScopes,
		DefaultScopes:        o.DefaultScopes,
		RejectUnknownScopes:  o.UnknownScopes == RejectUnknownScopes,
		AllowJWKSURI:         o.JWKSURI,
	}
}

// fromClient returns the metadata stored in c, as RFC 7591 §3.2.1 and RFC 7592 §3 echo it.
func fromClient(c *provider.Client) ClientMetadata {
	m := provider.MetadataOf(c)
	return ClientMetadata{
		RedirectURIs:                m.RedirectURIs,
		TokenEndpointAuthMethod:     c.GetTokenEndpointAuthMethod(),
		GrantTypes:                  m.GrantTypes,
		ResponseTypes:               m.ResponseTypes,
		ClientName:                  m.Name,
		ClientURI:                   m.URI,
		LogoURI:                     m.LogoURI,
		Scope:                       strings.Join(m.Scopes, " "),
		Contacts:                    m.Contacts,
		TOSURI:                      m.TOSURI,
		PolicyURI:                   m.PolicyURI,
		SoftwareID:                  m.SoftwareID,
		SoftwareVersion:             m.SoftwareVersion,
		ApplicationType:             m.ApplicationType,
		JWKS:                        m.JWKS,
		JWKSURI:                     m.JWKSURI,
		TokenEndpointAuthSigningAlg: m.TokenEndpointAuthSigningAlg,
	}
}
