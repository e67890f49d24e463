package compat_test

import (
	"slices"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Options.Apply is the one place the shims become provider switches: Strict gives the
// specification's values (RFC 8707 resource on code exchange and refresh, RFC 8252 §7.3
// relaxed only by LocalhostAnyPort, refresh tokens behind offline_access, a required
// state), Default the shims', and a stricter value the caller set is kept.
func TestApply_StrictDefaultAndCallerStricterValues(t *testing.T) {
	var p provider.Config
	compat.Strict().Apply(&p)
	if !p.RequireResourceOnCodeExchange || !p.RequireResourceOnRefresh || !p.ExactLocalhostRedirects ||
		p.MinStateLength != compat.StrictStateLength || !slices.Equal(p.RefreshTokenScopes, []string{provider.OfflineAccessScope}) ||
		p.TokenRedirectURIOptional || p.RefreshTokenGrace != (provider.RefreshTokenGrace{}) {
		t.Errorf("Strict().Apply = %+v", p)
	}

	d := compat.Default()
	p = provider.Config{Storage: gormtest.Open(t, gormtest.SQLite)}
	d.Apply(&p)
	if p.RequireResourceOnCodeExchange != !d.DefaultResource || p.ExactLocalhostRedirects != !d.LocalhostAnyPort ||
		p.TokenRedirectURIOptional != d.TokenWithoutRedirectURI ||
		p.RefreshTokenGrace.Period != d.RefreshGrace.Window {
		t.Errorf("Default().Apply = %+v", p)
	}

	p = provider.Config{RequireResourceOnCodeExchange: true, ExactLocalhostRedirects: true, MinStateLength: 32}
	d.Apply(&p)
	if !p.RequireResourceOnCodeExchange || !p.ExactLocalhostRedirects || p.MinStateLength != 32 {
		t.Errorf("Default().Apply dropped a stricter caller value: %+v", p)
	}
}
