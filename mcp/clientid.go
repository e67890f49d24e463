package mcp

import (
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// enableClientIDMetadataDocuments turns on client ID metadata documents
// (Config.ClientIDMetadataDocuments): a cimd.Resolver as the provider's client resolver
// and client_id_metadata_document_supported in the metadata. opts nil leaves them off.
// With compat.Options.LenientRegistration a document without grant_types gets
// authorization_code and refresh_token, as a registration without them does.
func (s *Server) enableClientIDMetadataDocuments(pcfg *provider.Config, opts *cimd.Options) error {
	if opts == nil {
		return nil
	}
	o := *opts
	if o.DefaultGrantTypes == nil && s.compat.LenientRegistration {
		o.DefaultGrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if o.RedirectURIRules.DotlessSchemes == nil {
		o.RedirectURIRules = pcfg.RedirectURIRules
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
// nil when Config.ClientIDMetadataDocuments is nil (off).
func (s *Server) ClientIDMetadataDocuments() *cimd.Resolver { return s.cimd }
