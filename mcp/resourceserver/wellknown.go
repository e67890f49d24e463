package resourceserver

import (
	"net/url"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// WellKnownPath is the RFC 9728 §3 well-known path prefix of protected resource metadata.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// MetadataURL returns where clients look for the protected resource metadata of the
// resource resourceURL (RFC 9728 §3.1): the well-known path inserted between the host and
// the resource's path, so https://h/mcp → https://h/.well-known/oauth-protected-resource/mcp
// and https://h or https://h/ → https://h/.well-known/oauth-protected-resource. A query is
// kept; scheme and host come out canonical (see [oauth.CanonicalResource]).
func MetadataURL(resourceURL string) (string, error) {
	canon, err := oauth.CanonicalResource(resourceURL)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(canon)
	if err != nil {
		return "", err
	}
	m := u.Scheme + "://" + u.Host + insertWellKnown(u.EscapedPath())
	if u.RawQuery != "" {
		m += "?" + u.RawQuery
	}
	return m, nil
}

// MetadataPath returns the path part of [MetadataURL]: where to mount the metadata of
// resourceURL on the resource's host.
func MetadataPath(resourceURL string) (string, error) {
	m, err := MetadataURL(resourceURL)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(m)
	if err != nil {
		return "", err
	}
	return u.EscapedPath(), nil
}

func insertWellKnown(p string) string {
	if p == "" || p == "/" {
		return WellKnownPath
	}
	return WellKnownPath + "/" + strings.TrimPrefix(p, "/")
}
