package compat

import (
	"slices"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// StrictStateLength is the minimum `state` length Apply requires without OptionalState
// (fosite's and Hydra's default).
const StrictStateLength = 8

// Apply sets the provider switches o governs on p, so that each shim lives here and
// mcp.New does not copy it: RequireResourceOnCodeExchange (DefaultResource),
// RequireResourceOnRefresh (RefreshWithoutResource), ExactLocalhostRedirects
// (LocalhostAnyPort), RedirectURIRules.DotlessSchemes (DotlessClientSchemes),
// RefreshTokenScopes (RefreshWithoutOfflineAccess), MinStateLength (OptionalState),
// TokenRedirectURIOptional (TokenWithoutRedirectURI) and RefreshTokenGrace (RefreshGrace;
// provider.New then refuses a p.Storage without provider.RefreshTokenGraceStorage). A
// stricter value already in p is kept. The switches that need the MCP resources (DefaultResource's resource,
// LenientResourceMatch) are mcp.New's.
func (o Options) Apply(p *provider.Config) {
	p.RequireResourceOnCodeExchange = p.RequireResourceOnCodeExchange || !o.DefaultResource
	p.RequireResourceOnRefresh = p.RequireResourceOnRefresh || !o.RefreshWithoutResource
	p.ExactLocalhostRedirects = p.ExactLocalhostRedirects || !o.LocalhostAnyPort
	if o.DotlessClientSchemes {
		schemes := slices.Clone(p.RedirectURIRules.DotlessSchemes)
		for _, scheme := range provider.KnownDotlessClientSchemes() {
			if !slices.Contains(schemes, scheme) {
				schemes = append(schemes, scheme)
			}
		}
		p.RedirectURIRules.DotlessSchemes = schemes
	}
	if !o.RefreshWithoutOfflineAccess && len(p.RefreshTokenScopes) == 0 {
		p.RefreshTokenScopes = []string{provider.OfflineAccessScope}
	}
	if !o.OptionalState && p.MinStateLength < StrictStateLength {
		p.MinStateLength = StrictStateLength
	}
	p.TokenRedirectURIOptional = o.TokenWithoutRedirectURI
	p.RefreshTokenGrace = provider.RefreshTokenGrace{}
	if g := o.RefreshGrace; g.Window > 0 {
		p.RefreshTokenGrace = provider.RefreshTokenGrace{Period: g.Window, MaxReuses: g.MaxReuses}
	}
}
