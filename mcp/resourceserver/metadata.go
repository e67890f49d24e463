package resourceserver

// ProtectedResourceMetadata is the RFC 9728 §2 protected resource metadata document.
// Empty members are omitted, never sent as null (zod-based clients reject null).
type ProtectedResourceMetadata struct {
	// Resource is the resource identifier: exactly the URL clients use (RFC 9728 §3.3).
	Resource string `json:"resource"`
	// AuthorizationServers lists issuer identifiers of authorization servers for this
	// resource.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// JWKSURI is the resource's own JWK Set URL (for signed responses); unused by MCP.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// ScopesSupported lists the scopes clients may request for this resource.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported lists how a bearer token may be sent: MCP allows "header" only.
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// ResourceName is the human-readable name of the resource.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of developer documentation.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
	// ResourcePolicyURI is a URL of the resource's data-use policy.
	ResourcePolicyURI string `json:"resource_policy_uri,omitempty"`
	// ResourceTOSURI is a URL of the resource's terms of service.
	ResourceTOSURI string `json:"resource_tos_uri,omitempty"`
}

// BearerMethodHeader is the only bearer method MCP allows (RFC 6750 §2.1).
const BearerMethodHeader = "header"

// Metadata returns the protected resource metadata of r served by the authorization
// server issuer: resource exactly r.URL, authorization_servers [issuer], scopes_supported
// without offline_access, bearer_methods_supported ["header"].
func (r Resource) Metadata(issuer string) ProtectedResourceMetadata {
	return ProtectedResourceMetadata{
		Resource:               r.URL,
		AuthorizationServers:   []string{issuer},
		ScopesSupported:        r.PublishedScopes(),
		BearerMethodsSupported: []string{BearerMethodHeader},
		ResourceName:           r.Name,
		ResourceDocumentation:  r.Documentation,
	}
}
