package jwtaccess

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/internal/jsondoc"
)

// JWKSHandler serves the public keys as a JSON Web Key Set (RFC 7517 §5) for jwks_uri:
// GET and HEAD, Content-Type application/json, CORS for any origin (answering
// preflights), and Cache-Control allowing caching for a quarter of PrePublish, at most
// five minutes (so that remote verifiers always learn a new key before it signs). Only
// public keys are ever published. Other methods get 405.
func (m *KeyManager) JWKSHandler() http.Handler {
	maxAge := min(DefaultJWKSMaxAge, m.cfg.PrePublish/4)
	cacheControl := "public, max-age=" + strconv.Itoa(int(maxAge/time.Second))
	return jsondoc.Handler(cacheControl, func(*http.Request) []byte { return m.current().jwks }, nil)
}

// Register serves JWKSHandler on mux at the issuer's path + JWKSPath (the path of
// JWKSURI(issuer)), like provider.Provider.Register does for the other endpoints.
func (m *KeyManager) Register(mux *http.ServeMux, issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("jwtaccess: invalid issuer %q", issuer)
	}
	mux.Handle(strings.TrimSuffix(u.Path, "/")+JWKSPath, m.JWKSHandler())
	return nil
}
