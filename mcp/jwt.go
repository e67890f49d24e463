package mcp

import (
	"context"
	"errors"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

// JWTAccessTokens configures RFC 9068 JWT access tokens (Config.JWTAccessTokens) in place
// of opaque ones; they are off unless Enabled. The authorization server then signs access tokens with keys it keeps
// in storage (rotated with overlap, published at jwks_uri), and the bearer middleware of
// this Server verifies them locally, without a database round trip — which is what lets
// MCP servers scale out, at a price: a locally verified token cannot be revoked before
// it expires. Keep access tokens short (the default lifespan becomes
// jwtaccess.DefaultAccessTokenLifespan, 10 minutes, unless Provider.AccessTokenLifespan
// is set), or set CheckRevocation.
type JWTAccessTokens struct {
	// Enabled turns JWT access tokens on. Default false: opaque tokens verified against
	// storage. New refuses other settings without it (they would be ignored).
	Enabled bool
	// Keys configures the signing keys (algorithm, rotation, pre-publication). Keys.Store
	// defaults to Provider.Storage, which must then implement provider.SigningKeyStore
	// (storage/gorm does).
	Keys jwtaccess.KeyManagerConfig
	// CheckRevocation makes the bearer middleware verify tokens against storage (as for
	// opaque tokens) instead of locally, so revocation takes effect at once. Resource
	// servers in other processes can still verify locally from jwks_uri
	// (jwtaccess.RemoteKeySet). Default false.
	CheckRevocation bool
}

// jwtSetup is what enableJWT built.
type jwtSetup struct {
	keys     *jwtaccess.KeyManager
	verifier *jwtaccess.Verifier // nil with CheckRevocation
}

// enabled reports whether o turns JWT access tokens on (nil: the default, off).
func (o *JWTAccessTokens) enabled() bool { return o != nil && o.Enabled }

// enableJWT wires JWT access tokens into pcfg when opts enables them.
func (s *Server) enableJWT(ctx context.Context, pcfg *provider.Config, opts *JWTAccessTokens) error {
	if err := refuseIgnored("JWTAccessTokens", "Enabled", opts.enabled(), opts); err != nil || !opts.enabled() {
		return err
	}
	kcfg := opts.Keys
	if kcfg.Store == nil {
		ks, ok := pcfg.Storage.(provider.SigningKeyStore)
		if !ok {
			return errors.New("mcp: JWTAccessTokens needs Keys.Store, or a Provider.Storage that implements provider.SigningKeyStore")
		}
		kcfg.Store = ks
	}
	if kcfg.Logger == nil {
		kcfg.Logger = s.logger
	}
	if pcfg.AccessTokenLifespan == 0 {
		pcfg.AccessTokenLifespan = jwtaccess.DefaultAccessTokenLifespan
	}
	keys, err := jwtaccess.NewKeyManager(ctx, kcfg)
	if err != nil {
		return err
	}
	s.jwt = &jwtSetup{keys: keys}
	if !opts.CheckRevocation {
		if s.jwt.verifier, err = jwtaccess.NewVerifier(jwtaccess.VerifierConfig{Issuer: pcfg.Issuer, Keys: keys}); err != nil {
			return err
		}
	}
	pcfg.AccessTokenStrategy = keys.AccessTokenStrategy
	jwksURI := jwtaccess.JWKSURI(pcfg.Issuer)
	userEdit := pcfg.EditMetadata
	pcfg.EditMetadata = func(m *provider.AuthorizationServerMetadata) {
		m.JWKSURI = jwksURI
		if userEdit != nil {
			userEdit(m)
		}
	}
	return nil
}

// KeyManager returns the JWT signing keys, or nil when Config.JWTAccessTokens is not set.
func (s *Server) KeyManager() *jwtaccess.KeyManager {
	if s.jwt == nil {
		return nil
	}
	return s.jwt.keys
}
