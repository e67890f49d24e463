package resourceserver

import (
	"errors"
	"fmt"
	"slices"
)

// Registry holds the protected resources one authorization server stands in front of.
// It is immutable after [NewRegistry] and safe for concurrent use.
type Registry struct {
	resources []Resource
	canonical []string // canonical URL of resources[i], trailing slash as configured
}

// NewRegistry validates the resources and returns a registry. Two resources that are the
// same after canonicalisation (see [SameResource]) are an error.
func NewRegistry(resources ...Resource) (*Registry, error) {
	if len(resources) == 0 {
		return nil, errors.New("resourceserver: at least one resource is required")
	}
	reg := &Registry{}
	for _, r := range resources {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("resourceserver: %w", err)
		}
		canon, _ := r.CanonicalURL()
		for _, other := range reg.canonical {
			if SameResource(canon, other) {
				return nil, fmt.Errorf("resourceserver: resource %q registered twice", r.URL)
			}
		}
		r.Scopes = slices.Clone(r.Scopes)
		r.DefaultScopes = slices.Clone(r.DefaultScopes)
		reg.resources = append(reg.resources, r)
		reg.canonical = append(reg.canonical, canon)
	}
	return reg, nil
}

// Resources returns a copy of the registered resources in registration order.
func (g *Registry) Resources() []Resource {
	out := make([]Resource, len(g.resources))
	for i := range g.resources {
		out[i] = g.at(i)
	}
	return out
}

// at returns a copy of the i-th resource that shares no slices with the registry.
func (g *Registry) at(i int) Resource {
	r := g.resources[i]
	r.Scopes = slices.Clone(r.Scopes)
	r.DefaultScopes = slices.Clone(r.DefaultScopes)
	return r
}

// Lookup returns the resource whose URL is the same as raw (see [SameResource]): the
// strict RFC 8707 rule.
func (g *Registry) Lookup(raw string) (Resource, bool) {
	for i, canon := range g.canonical {
		if SameResource(raw, canon) {
			return g.at(i), true
		}
	}
	return Resource{}, false
}

// Match returns the resource raw names: the one that is the same as raw, else the single
// resource that raw covers as an origin or path prefix (see [ResourceCovers]). When raw
// covers several resources it is ambiguous and nothing matches; a different origin never
// matches.
func (g *Registry) Match(raw string) (Resource, bool) {
	if r, ok := g.Lookup(raw); ok {
		return r, true
	}
	found := -1
	for i, canon := range g.canonical {
		if ResourceCovers(raw, canon) {
			if found >= 0 {
				return Resource{}, false
			}
			found = i
		}
	}
	if found < 0 {
		return Resource{}, false
	}
	return g.at(found), true
}

// Default returns the resource to bind when a client names none: the only resource, if
// there is exactly one.
func (g *Registry) Default() (Resource, bool) {
	if len(g.resources) != 1 {
		return Resource{}, false
	}
	return g.at(0), true
}

// Scopes returns the union of every resource's scopes in registration order, without
// duplicates (offline_access included when a resource lists it).
func (g *Registry) Scopes() []string {
	var out []string
	for _, r := range g.resources {
		for _, s := range r.Scopes {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
