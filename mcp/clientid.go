package mcp

import (
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// ClientIDMetadataDocuments configures OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document-00; Config.ClientIDMetadataDocuments),
// the registration MCP 2025-11-25 prefers (SHOULD): a client whose client_id is an https
// URL is described by the JSON document at that URL, which the server fetches (with an
// SSRF guard, a size cap, a timeout, and a cache honouring Cache-Control; see package
// cimd), and client_id_metadata_document_supported is advertised. Resolved clients are
// stored as provider.ClientSourceMetadataDocument and kept in step with their documents.
type ClientIDMetadataDocuments struct {
	// Enabled turns them on. Default false: they make the server fetch URLs chosen by
	// anyone who can reach the authorization endpoint, which is an egress decision for
	// the operator. New refuses other settings without it (they would be ignored).
	Enabled bool
	// Options configure the resolver; the zero value means package cimd's defaults. With
	// compat.Options.LenientRegistration a document without grant_types gets
	// authorization_code and refresh_token (DefaultGrantTypes), as a registration
	// without them does; RedirectURIRules default to Provider.RedirectURIRules and
	// Logger to Config.Logger; JWKSURI is set (private_key_jwt documents may name a
	// jwks_uri) since New always supplies Provider.ClientKeys (see ClientKeySets).
	Options cimd.Options
}

// enabled reports whether o turns the documents on (nil: the default, off).
func (o *ClientIDMetadataDocuments) enabled() bool { return o != nil && o.Enabled }

// enableClientIDMetadataDocuments turns on client ID metadata documents when opts
// enables them: a cimd.Resolver as the provider's client resolver and
// client_id_metadata_document_supported in the metadata.
func (s *Server) enableClientIDMetadataDocuments(pcfg *provider.Config, opts *ClientIDMetadataDocuments) error {
	if err := refuseIgnored("ClientIDMetadataDocuments", "Enabled", opts.enabled(), opts); err != nil || !opts.enabled() {
		return err
	}
	o := opts.Options
	if o.DefaultGrantTypes == nil && s.compat.LenientRegistration {
		o.DefaultGrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if o.RedirectURIRules.DotlessSchemes == nil {
		o.RedirectURIRules = pcfg.RedirectURIRules
	}
	if pcfg.ClientKeys != nil {
		// private_key_jwt documents may give their keys by reference (jwks_uri), as
		// registrations may (registrationOptions).
		o.JWKSURI = true
	}
	if o.Logger == nil {
		o.Logger = s.logger
	}
	if o.Observer == nil {
		o.Observer = s.obs
	}
	r, err := cimd.New(&o)
	if err != nil {
		return err
	}
	s.cimd = r
	pcfg.ClientResolver = r
	inner := pcfg.EditMetadata
	pcfg.EditMetadata = func(m *provider.AuthorizationServerMetadata) {
		m.ClientIDMetadataDocumentSupported = true
		if inner != nil {
			inner(m)
		}
	}
	return nil
}

// ClientIDMetadataDocuments returns the resolver of client ID metadata documents, or
// nil when Config.ClientIDMetadataDocuments does not enable them (the default).
func (s *Server) ClientIDMetadataDocuments() *cimd.Resolver { return s.cimd }
