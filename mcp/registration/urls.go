package registration

import (
	"errors"
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// validateWebURL checks a metadata URL (client_uri, logo_uri, policy_uri, tos_uri,
// jwks_uri): https, or http on a loopback host for development, with a host and without
// user information.
func validateWebURL(raw string) error {
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
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback.IsHost(u.Hostname()):
	default:
		return errors.New("must be an https URL")
	}
	return nil
}
