package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/internal/lists"
	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// ClientMetadata is RFC 7591 §2 client metadata as a client or an operator supplies it,
// before NormalizeClientMetadata fills in defaults and checks it. Static clients
// (CreateClient), RFC 7591 registrations, RFC 7592 updates and client ID metadata
// documents all describe their client with it, so that one set of rules applies.
type ClientMetadata struct {
	// RedirectURIs are the redirection URIs (redirect_uris).
	RedirectURIs []string
	// TokenEndpointAuthMethod is token_endpoint_auth_method; empty means
	// ClientRules.DefaultAuthMethod.
	TokenEndpointAuthMethod string
	// GrantTypes are grant_types; empty means ClientRules.DefaultGrantTypes.
	GrantTypes []string
	// ResponseTypes are response_types; empty means ["code"] for clients of the
	// authorization_code grant.
	ResponseTypes []string
	// Scopes are the scopes the client asks to be granted (the scope member, split).
	Scopes []string
	// ApplicationType is "web" or "native" (OpenID Connect Dynamic Registration §2).
	ApplicationType string
	// Name is client_name, shown on consent pages.
	Name string
	// URI, LogoURI, PolicyURI and TOSURI are client_uri, logo_uri, policy_uri and tos_uri.
	URI, LogoURI, PolicyURI, TOSURI string
	// Contacts are contacts.
	Contacts []string
	// SoftwareID and SoftwareVersion are software_id and software_version.
	SoftwareID, SoftwareVersion string
	// JWKS is the public key set of a private_key_jwt client (jwks, RFC 7523 §2.2).
	JWKS *jose.JSONWebKeySet
	// JWKSURI is jwks_uri: where a private_key_jwt client publishes its key set (RFC
	// 7591 §2), accepted where ClientRules.AllowJWKSURI says so.
	JWKSURI string
	// TokenEndpointAuthSigningAlg is token_endpoint_auth_signing_alg, one of
	// ClientAssertionAlgs(); only for private_key_jwt.
	TokenEndpointAuthSigningAlg string
}

// ClientRules are what differs between the sources of clients (static clients, RFC 7591
// registration, client ID metadata documents) when NormalizeClientMetadata checks their
// metadata. Everything else is one rule for all: redirect URIs meet RedirectURIRules,
// response types are "code" exactly for the authorization_code grant, client_name
// passes ValidateClientName, client_credentials needs a confidential client, jwks and
// token_endpoint_auth_signing_alg go only with private_key_jwt (ValidateClientJWKS).
//
// Whether a client gets a secret follows from its method (AuthMethodUsesSecret): a
// source whose AuthMethods hold neither client_secret_basic nor client_secret_post, as
// client ID metadata documents, never has secrets.
type ClientRules struct {
	// GrantTypes are the grant types the source may use: who may use
	// client_credentials (only when the provider enables it, never a document) and the
	// device grant is decided here.
	GrantTypes []string
	// DefaultGrantTypes are used when the metadata lists none (RFC 7591 §2:
	// ["authorization_code"]).
	DefaultGrantTypes []string
	// IgnoreUnsupportedGrantTypes drops the grant types outside GrantTypes instead of
	// refusing the metadata, which RFC 7591 §2 allows (client ID metadata documents:
	// published once for every server, they list grants some servers do not serve, e.g.
	// the device grant). Metadata left with none of its grant types is still refused.
	IgnoreUnsupportedGrantTypes bool
	// RequireAuthorizationCode refuses metadata whose grant types lack
	// authorization_code (client ID metadata documents: the client logs users in).
	RequireAuthorizationCode bool

	// AuthMethods are the token_endpoint_auth_methods the source may use.
	AuthMethods []string
	// DefaultAuthMethod is used when the metadata names none (RFC 7591 §2:
	// client_secret_basic; none for public clients and documents).
	DefaultAuthMethod string

	// RedirectURIRules are the rules every redirect URI must meet.
	RedirectURIRules RedirectURIRules
	// MaxRedirectURIs bounds the number of redirect URIs; 0 means no bound.
	MaxRedirectURIs int

	// RequireName refuses metadata without a client_name (client ID metadata documents:
	// the consent page must name the client).
	RequireName bool
	// NameFromRedirectHost names a client without client_name after the host of its
	// first redirect URI (registration's compat shim, see registration.Options).
	NameFromRedirectHost bool
	// HTTPSURLsOnly refuses http client_uri, logo_uri, policy_uri, tos_uri and jwks_uri
	// even on loopback hosts (documents are fetched over https and shown to anyone);
	// otherwise http is allowed on loopback hosts for development.
	HTTPSURLsOnly bool
	// AllowJWKSURI lets a private_key_jwt client give its keys by reference (jwks_uri,
	// fetched through Config.ClientKeys) instead of inline; otherwise jwks_uri is refused
	// for private_key_jwt. Set for static clients, and for RFC 7591 registrations and
	// client ID metadata documents when the provider fetches keys (Config.ClientKeys).
	AllowJWKSURI bool

	// Scopes are the scopes the source's clients may be granted; nil admits every
	// syntactically valid scope token.
	Scopes []string
	// DefaultScopes are granted when the metadata asks for none, or when every scope it
	// asked for was filtered out (see RejectUnknownScopes).
	DefaultScopes []string
	// RejectUnknownScopes refuses scopes outside Scopes; otherwise they are dropped
	// (clients such as mcp-remote ask for "openid email profile" by default).
	RejectUnknownScopes bool

	// InferApplicationType sets an absent application_type: "native" when every redirect
	// URI is a loopback or private-use URI, else "web". Otherwise it stays empty (RFC
	// 7591 registration echoes what the client sent).
	InferApplicationType bool
}

// ClientMetadataError is a refusal of client metadata in RFC 7591 §3.2.2 terms: Code is
// ErrorCodeInvalidRedirectURI or ErrorCodeInvalidClientMetadata, Description names the
// member and the rule (client values are quoted and truncated, never secrets).
type ClientMetadataError struct {
	// Code is the RFC 7591 §3.2.2 error code.
	Code string
	// Description is the error_description.
	Description string
}

// Error implements error: the description.
func (e *ClientMetadataError) Error() string { return e.Description }

func metadataError(format string, args ...any) *ClientMetadataError {
	return &ClientMetadataError{Code: ErrorCodeInvalidClientMetadata, Description: fmt.Sprintf(format, args...)}
}

// AuthMethodUsesSecret reports whether clients of method authenticate with a shared
// secret, that is whether the server issues one.
func AuthMethodUsesSecret(method string) bool {
	return method == AuthMethodClientSecretBasic || method == AuthMethodClientSecretPost
}

// MaxMetadataDocumentRedirectURIs is the most redirect URIs a client ID metadata
// document may list.
const MaxMetadataDocumentRedirectURIs = 20

// MetadataDocumentClientRules are the fixed rules of client ID metadata documents
// (draft-ietf-oauth-client-id-metadata-document-00 §4.1 and this server's choices):
// client_name required; authorization_code required, refresh_token, the device grant and
// the jwt-bearer grant allowed, others (client_credentials among them) ignored,
// defaultGrantTypes (nil: ["authorization_code"]) when the document lists none; token_endpoint_auth_method none (the default) or
// private_key_jwt with jwks, never a shared secret, which a public document cannot hold;
// at most MaxMetadataDocumentRedirectURIs redirect URIs meeting redirect; https URLs
// only (jwks_uri too); any valid scope (the provider keeps those it knows). Keys by
// reference (jwks_uri) are refused: callers whose provider fetches them (Config.ClientKeys)
// set AllowJWKSURI. Package mcp/cimd checks documents with them, and the provider checks
// resolved clients again with Scopes set to the scopes it knows, the device grant only
// when it serves it, and jwks_uri only when it has Config.ClientKeys.
func MetadataDocumentClientRules(defaultGrantTypes []string, redirect RedirectURIRules) ClientRules {
	if len(defaultGrantTypes) == 0 {
		defaultGrantTypes = []string{"authorization_code"}
	}
	return ClientRules{
		GrantTypes:                  []string{"authorization_code", "refresh_token", GrantTypeDeviceCode, GrantTypeJWTBearer},
		DefaultGrantTypes:           slices.Clone(defaultGrantTypes),
		IgnoreUnsupportedGrantTypes: true,
		RequireAuthorizationCode:    true,
		AuthMethods:                 []string{AuthMethodNone, AuthMethodPrivateKeyJWT},
		DefaultAuthMethod:           AuthMethodNone,
		RedirectURIRules:            redirect,
		MaxRedirectURIs:             MaxMetadataDocumentRedirectURIs,
		RequireName:                 true,
		HTTPSURLsOnly:               true,
		InferApplicationType:        true,
	}
}

// NormalizeClientMetadata checks m against rules and returns the client it describes:
// defaults filled in, lists without repeats or empty members. Only the metadata fields
// are set (ID, Source, secrets and times are the caller's). A refusal is a
// *ClientMetadataError.
//
// Key sets by reference (jwks_uri) are stored for private_key_jwt where
// rules.AllowJWKSURI admits them, refused there otherwise (the server does not fetch
// client keys), and ignored (not stored) for other methods.
func NormalizeClientMetadata(m ClientMetadata, rules ClientRules) (*Client, error) {
	c := &Client{
		TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		Name:                    strings.TrimSpace(m.Name),
		URI:                     m.URI,
		LogoURI:                 m.LogoURI,
		PolicyURI:               m.PolicyURI,
		TOSURI:                  m.TOSURI,
		Contacts:                lists.Dedupe(m.Contacts),
		SoftwareID:              m.SoftwareID,
		SoftwareVersion:         m.SoftwareVersion,
		ApplicationType:         m.ApplicationType,
	}
	for _, check := range []func(*Client, ClientMetadata, ClientRules) *ClientMetadataError{
		normalizeAuthMethod, normalizeGrants, normalizeRedirectURIs, normalizeName, normalizeText, normalizeURLs,
		normalizeKeys, normalizeApplicationType, normalizeScopes,
	} {
		if err := check(c, m, rules); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// normalizeAuthMethod applies token_endpoint_auth_method: rules.DefaultAuthMethod when
// absent, one of rules.AuthMethods.
func normalizeAuthMethod(c *Client, _ ClientMetadata, rules ClientRules) *ClientMetadataError {
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = rules.DefaultAuthMethod
	}
	method := c.TokenEndpointAuthMethod
	if !slices.Contains(rules.AuthMethods, method) {
		supported := strings.Join(rules.AuthMethods, ", ")
		if (AuthMethodUsesSecret(method) || method == "client_secret_jwt") && !slices.ContainsFunc(rules.AuthMethods, AuthMethodUsesSecret) {
			return metadataError("token_endpoint_auth_method %s needs a shared secret, which this client cannot have (supported: %s)", quoteShort(method), supported)
		}
		return metadataError("token_endpoint_auth_method %s is not supported (supported: %s)", quoteShort(method), supported)
	}
	c.Public = method == AuthMethodNone
	return nil
}

// normalizeGrants applies grant_types and response_types (RFC 7591 §2, §2.1).
func normalizeGrants(c *Client, m ClientMetadata, rules ClientRules) *ClientMetadataError {
	c.GrantTypes = lists.Dedupe(m.GrantTypes)
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = append(c.GrantTypes, rules.DefaultGrantTypes...)
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(rules.GrantTypes, g) && (!rules.IgnoreUnsupportedGrantTypes || !slices.ContainsFunc(c.GrantTypes, func(g string) bool { return slices.Contains(rules.GrantTypes, g) })) {
			return metadataError("grant type %s is not supported (supported: %s)", quoteShort(g), strings.Join(rules.GrantTypes, ", "))
		}
	}
	if rules.IgnoreUnsupportedGrantTypes {
		c.GrantTypes = slices.DeleteFunc(c.GrantTypes, func(g string) bool { return !slices.Contains(rules.GrantTypes, g) })
	}
	if c.Public && slices.Contains(c.GrantTypes, "client_credentials") {
		return metadataError("client_credentials needs a confidential client (token_endpoint_auth_method other than none)")
	}
	codeGrant := slices.Contains(c.GrantTypes, "authorization_code")
	if rules.RequireAuthorizationCode && !codeGrant {
		return metadataError("grant_types must include authorization_code")
	}
	c.ResponseTypes = lists.Dedupe(m.ResponseTypes)
	if len(c.ResponseTypes) == 0 && codeGrant {
		c.ResponseTypes = []string{"code"}
	}
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			return metadataError("response type %s is not supported (supported: code)", quoteShort(rt))
		}
	}
	if codeGrant != slices.Contains(c.ResponseTypes, "code") {
		return metadataError("grant_types and response_types are inconsistent: authorization_code goes with response type code (RFC 7591 §2.1)")
	}
	return nil
}

// normalizeRedirectURIs applies redirect_uris: required for the authorization_code
// grant, each valid for rules.RedirectURIRules.
func normalizeRedirectURIs(c *Client, m ClientMetadata, rules ClientRules) *ClientMetadataError {
	if rules.MaxRedirectURIs > 0 && len(m.RedirectURIs) > rules.MaxRedirectURIs {
		return metadataError("too many redirect_uris (at most %d)", rules.MaxRedirectURIs)
	}
	c.RedirectURIs = lists.Dedupe(m.RedirectURIs)
	if len(c.RedirectURIs) == 0 && slices.Contains(c.GrantTypes, "authorization_code") {
		return &ClientMetadataError{Code: ErrorCodeInvalidRedirectURI, Description: "no redirect_uris: the authorization_code grant needs at least one"}
	}
	for _, u := range c.RedirectURIs {
		if err := rules.RedirectURIRules.Validate(u); err != nil {
			return &ClientMetadataError{Code: ErrorCodeInvalidRedirectURI, Description: fmt.Sprintf("redirect URI %s is not allowed: %v", quoteShort(u), err)}
		}
	}
	return nil
}

// normalizeName applies client_name (ValidateClientName, rules.RequireName,
// rules.NameFromRedirectHost).
func normalizeName(c *Client, _ ClientMetadata, rules ClientRules) *ClientMetadataError {
	if err := ValidateClientName(c.Name); err != nil {
		return metadataError("%v", err)
	}
	if c.Name == "" && rules.RequireName {
		return metadataError("no client_name: it is required")
	}
	if c.Name == "" && rules.NameFromRedirectHost && len(c.RedirectURIs) > 0 {
		c.Name = redirectHost(c.RedirectURIs[0])
	}
	return nil
}

// MaxClientTextLength bounds software_id, software_version and each of contacts (in
// characters): RFC 7591 sets no limit, and these are stored with the client.
const MaxClientTextLength = 255

// normalizeText checks software_id, software_version and contacts: plain text as
// client_name must be (valid UTF-8 without control, format or private-use characters; a
// NUL could not even be stored on PostgreSQL), at most MaxClientTextLength characters each.
func normalizeText(c *Client, _ ClientMetadata, _ ClientRules) *ClientMetadataError {
	check := func(name, value string) *ClientMetadataError {
		switch {
		case !utf8.ValidString(value) || strings.IndexFunc(value, notPlainText) >= 0:
			return metadataError("%s contains control, format or private-use characters", name)
		case utf8.RuneCountInString(value) > MaxClientTextLength:
			return metadataError("%s is too long (at most %d characters)", name, MaxClientTextLength)
		}
		return nil
	}
	if err := check("software_id", c.SoftwareID); err != nil {
		return err
	}
	if err := check("software_version", c.SoftwareVersion); err != nil {
		return err
	}
	for _, contact := range c.Contacts {
		if err := check("contacts", contact); err != nil {
			return err
		}
	}
	return nil
}

// normalizeURLs checks client_uri, logo_uri, policy_uri, tos_uri and jwks_uri.
func normalizeURLs(c *Client, m ClientMetadata, rules ClientRules) *ClientMetadataError {
	for _, f := range []struct{ name, value string }{
		{"client_uri", c.URI}, {"logo_uri", c.LogoURI}, {"policy_uri", c.PolicyURI},
		{"tos_uri", c.TOSURI}, {"jwks_uri", m.JWKSURI},
	} {
		if f.value == "" {
			continue
		}
		if err := validateWebURL(f.value, !rules.HTTPSURLsOnly); err != nil {
			return metadataError("%s %v", f.name, err)
		}
	}
	return nil
}

// validateWebURL checks a metadata URL: https (or, with loopbackHTTP, http on a
// loopback host for development), with a host, without user information.
func validateWebURL(raw string, loopbackHTTP bool) error {
	if strings.ContainsAny(raw, " \t\r\n\x00<>\"\\") {
		return errors.New("contains an illegal character")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute https URL")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	if u.Scheme != "https" && (!loopbackHTTP || u.Scheme != "http" || !loopback.IsHost(u.Hostname())) {
		return errors.New("must be an https URL")
	}
	return nil
}

// normalizeKeys applies jwks, jwks_uri and token_endpoint_auth_signing_alg (RFC 7591 §2,
// RFC 7523 §2.2): keys only for private_key_jwt, where they are required.
func normalizeKeys(c *Client, m ClientMetadata, rules ClientRules) *ClientMetadataError {
	if m.JWKSURI != "" && m.JWKS != nil {
		return metadataError("jwks_uri and jwks must not both be present (RFC 7591 §2)")
	}
	if m.JWKSURI != "" && c.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT && !rules.AllowJWKSURI {
		return metadataError("jwks_uri is not supported: this server does not fetch client keys; send jwks")
	}
	if c.TokenEndpointAuthMethod != AuthMethodPrivateKeyJWT {
		// jwks_uri (checked as a URL) and an empty jwks ({"keys":[]}, which some clients
		// send whatever their method) are tolerated and ignored, as they always were;
		// keys would be a mistake.
		if (m.JWKS != nil && len(m.JWKS.Keys) > 0) || m.TokenEndpointAuthSigningAlg != "" {
			return metadataError("jwks and token_endpoint_auth_signing_alg are only for token_endpoint_auth_method private_key_jwt")
		}
		return nil
	}
	keys, err := ValidateClientKeys(m.JWKS, m.JWKSURI, m.TokenEndpointAuthSigningAlg)
	if err != nil {
		return metadataError("%v", err)
	}
	c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg = keys, m.JWKSURI, m.TokenEndpointAuthSigningAlg
	return nil
}

// normalizeApplicationType applies application_type: web or native, inferred from the
// redirect URIs when rules.InferApplicationType.
func normalizeApplicationType(c *Client, _ ClientMetadata, rules ClientRules) *ClientMetadataError {
	switch c.ApplicationType {
	case "web", "native":
	case "":
		if rules.InferApplicationType {
			c.ApplicationType = "web"
			if len(c.RedirectURIs) > 0 && !slices.ContainsFunc(c.RedirectURIs, isHTTPS) {
				c.ApplicationType = "native"
			}
		}
	default:
		return metadataError("application_type %s is not supported (web or native)", quoteShort(c.ApplicationType))
	}
	return nil
}

// normalizeScopes applies scope: valid scope tokens (RFC 6749 §3.3), unknown ones
// dropped or refused, rules.DefaultScopes when none is left.
func normalizeScopes(c *Client, m ClientMetadata, rules ClientRules) *ClientMetadataError {
	c.Scopes = []string{}
	for _, s := range lists.Dedupe(m.Scopes) {
		if !ValidScopeToken(s) {
			return metadataError("scope %s is not a valid scope token (RFC 6749 §3.3)", quoteShort(s))
		}
		if rules.Scopes != nil && !slices.Contains(rules.Scopes, s) {
			if rules.RejectUnknownScopes {
				return metadataError("scope %s is not supported", quoteShort(s))
			}
			continue
		}
		c.Scopes = append(c.Scopes, s)
	}
	if len(c.Scopes) == 0 {
		c.Scopes = append(c.Scopes, rules.DefaultScopes...)
	}
	return nil
}

// MetadataOf returns the client metadata c carries, for checking it again
// (NormalizeClientMetadata) or echoing it (RFC 7592 read).
func MetadataOf(c *Client) ClientMetadata {
	return ClientMetadata{
		RedirectURIs:                slices.Clone(c.RedirectURIs),
		TokenEndpointAuthMethod:     c.TokenEndpointAuthMethod,
		GrantTypes:                  slices.Clone(c.GrantTypes),
		ResponseTypes:               slices.Clone(c.ResponseTypes),
		Scopes:                      slices.Clone(c.Scopes),
		ApplicationType:             c.ApplicationType,
		Name:                        c.Name,
		URI:                         c.URI,
		LogoURI:                     c.LogoURI,
		PolicyURI:                   c.PolicyURI,
		TOSURI:                      c.TOSURI,
		Contacts:                    slices.Clone(c.Contacts),
		SoftwareID:                  c.SoftwareID,
		SoftwareVersion:             c.SoftwareVersion,
		JWKS:                        c.JWKS,
		JWKSURI:                     c.JWKSURI,
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg,
	}
}

// ParseJWKS decodes a jwks member (RFC 7517 §5 JWK Set) of registration metadata or a
// client ID metadata document; absent or null gives nil. The keys are checked by
// NormalizeClientMetadata (ValidateClientJWKS), not here.
func ParseJWKS(raw json.RawMessage) (*jose.JSONWebKeySet, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, metadataError("jwks is not a JWK Set of valid keys (RFC 7517 §5)")
	}
	return &set, nil
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

// quoteShort quotes a client-supplied value for an error description, truncated so that
// a description never carries a large payload back.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func isHTTPS(u string) bool { return strings.HasPrefix(u, "https://") }
