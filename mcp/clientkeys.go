package mcp

import (
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

var _ provider.ClientKeySource = (*jwtaccess.RemoteKeySets)(nil)

// enableClientKeys sets the provider's source of private_key_jwt keys published at a
// jwks_uri (Config.ClientKeySets), unless Provider.ClientKeys is set already:
// jwtaccess.RemoteKeySets over the module's SSRF-guarded HTTP client.
func (s *Server) enableClientKeys(pcfg *provider.Config, opts *jwtaccess.RemoteKeySetsConfig) error {
	if pcfg.ClientKeys != nil {
		return nil
	}
	var o jwtaccess.RemoteKeySetsConfig
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = s.logger
	}
	sets, err := jwtaccess.NewRemoteKeySets(o)
	if err != nil {
		return err
	}
	pcfg.ClientKeys = sets
	return nil
}
