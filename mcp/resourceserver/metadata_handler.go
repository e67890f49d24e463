package resourceserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fosite-mcp/fosite-mcp/internal/jsondoc"
)

// DefaultMetadataCacheControl is the Cache-Control of metadata responses by default.
const DefaultMetadataCacheControl = "public, max-age=3600"

// MetadataOptions configures [NewMetadataHandler]. A nil *MetadataOptions means defaults.
type MetadataOptions struct {
	// CacheControl is sent with every metadata document. Default
	// [DefaultMetadataCacheControl]; lower it (or use "no-store") while the metadata is
	// still changing, since clients and proxies keep it for that long.
	CacheControl string
}

// metadataDoc is one pre-encoded metadata document and where it is served.
type metadataDoc struct {
	segments []string // path segments of the resource URL
	host     string   // canonical host[:port] of the resource URL
	query    string   // raw query of the resource URL, usually empty
	body     []byte
}

type metadataHandler struct {
	docs []metadataDoc
	root []byte // served at the bare well-known path when there is one resource
}

// NewMetadataHandler returns an http.Handler that serves the RFC 9728 protected resource
// metadata of every resource in reg, naming issuer as the authorization server. A
// resource's document is served at its [MetadataPath] (a trailing slash tolerated) and,
// when reg holds exactly one resource, also at the bare [WellKnownPath]. Mount it on the
// resources' host for both patterns:
//
//	mux.Handle(resourceserver.WellKnownPath, h)
//	mux.Handle(resourceserver.WellKnownPath+"/", h)
//
// GET and HEAD get the JSON document with CORS "*" and Cache-Control; OPTIONS answers a
// CORS preflight; other methods get 405 with Allow. Unknown paths get 404.
func NewMetadataHandler(issuer string, reg *Registry, opts *MetadataOptions) (http.Handler, error) {
	if !isHTTPURL(issuer) {
		return nil, fmt.Errorf("resourceserver: issuer %q must be an absolute http(s) URL", issuer)
	}
	if reg == nil {
		return nil, errors.New("resourceserver: registry is nil")
	}
	h := &metadataHandler{}
	cacheControl := DefaultMetadataCacheControl
	if opts != nil && opts.CacheControl != "" {
		cacheControl = opts.CacheControl
	}
	for _, r := range reg.Resources() {
		body, err := json.Marshal(r.Metadata(issuer))
		if err != nil {
			return nil, fmt.Errorf("resourceserver: encoding metadata of %q: %w", r.URL, err)
		}
		u, _ := parseCanonical(r.URL) // validated by NewRegistry
		h.docs = append(h.docs, metadataDoc{segments: segments(u), host: u.Host, query: u.RawQuery, body: body})
	}
	if len(h.docs) == 1 {
		h.root = h.docs[0].body
	}
	return jsondoc.Handler(cacheControl, h.find, nil), nil
}

// find returns the document for the request path, or nil.
func (h *metadataHandler) find(r *http.Request) []byte {
	p := r.URL.EscapedPath()
	if p != WellKnownPath && !strings.HasPrefix(p, WellKnownPath+"/") {
		return nil
	}
	var reqSegs []string
	if rest := strings.TrimPrefix(p, WellKnownPath); rest != "" {
		u, err := url.Parse(rest)
		if err != nil {
			return nil
		}
		reqSegs = segments(u)
	}
	var found []metadataDoc
	for _, d := range h.docs {
		if slices.Equal(d.segments, reqSegs) && (d.query == "" || d.query == r.URL.RawQuery) {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 1:
		return found[0].body
	case len(found) > 1:
		// Several origins share the path: pick by the Host the client used.
		host := canonicalHost(r)
		for _, d := range found {
			if d.host == host {
				return d.body
			}
		}
		return nil
	case len(reqSegs) == 0:
		return h.root
	}
	return nil
}

// canonicalHost returns the request's Host lowercased and without the default port.
func canonicalHost(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, ok := parseCanonical(scheme + "://" + r.Host)
	if !ok {
		return ""
	}
	return u.Host
}
