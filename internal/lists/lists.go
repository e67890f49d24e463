// Package lists holds the small string-list helpers the provider, registration and
// client ID metadata documents share, so that each rule has one definition.
package lists

import "slices"

// Dedupe returns in without empty strings and repeats, keeping the order of first
// occurrences. The result is never nil and never shares in's backing array. Empty
// strings are dropped because no metadata list (redirect URIs, grant types, scopes,
// contacts) has a meaningful empty member.
func Dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
