package mcp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/mcp/ratelimit"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Issue 10 item 1, one rule for nil: a nil option and a pointer to its zero value both
// mean the documented default, a feature is switched only by Enabled or Disabled, and
// settings beside a switch that turns their feature off are refused with an error naming
// them instead of being ignored.
func TestNew_OneRuleForOptionalParts(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	base := func() mcp.Config {
		return mcp.Config{
			Provider: provider.Config{Issuer: "http://127.0.0.1:1", Storage: store,
				GlobalSecret: []byte("server-test-global-secret-0123456789"),
				AutoApprove:  func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "alice", true }},
			Resources: []resourceserver.Resource{{URL: "http://127.0.0.1:1/mcp"}},
		}
	}
	for name, tc := range map[string]struct {
		edit    func(*mcp.Config)
		refused string // the field the error names; "" when New must succeed
		jwt     bool   // whether JWT access tokens end up on
		cimd    bool   // whether client ID metadata documents end up on
	}{
		"nil everywhere": {edit: func(*mcp.Config) {}},
		"zero values mean the defaults too": {edit: func(c *mcp.Config) {
			c.JWTAccessTokens, c.ClientIDMetadataDocuments, c.RateLimits = &mcp.JWTAccessTokens{}, &mcp.ClientIDMetadataDocuments{}, &mcp.RateLimits{}
		}},
		"Enabled turns JWTs on": {edit: func(c *mcp.Config) { c.JWTAccessTokens = &mcp.JWTAccessTokens{Enabled: true} }, jwt: true},
		"Enabled turns CIMD on": {edit: func(c *mcp.Config) { c.ClientIDMetadataDocuments = &mcp.ClientIDMetadataDocuments{Enabled: true} }, cimd: true},
		"JWT settings without Enabled": {edit: func(c *mcp.Config) { c.JWTAccessTokens = &mcp.JWTAccessTokens{CheckRevocation: true} },
			refused: "Config.JWTAccessTokens.CheckRevocation"},
		"CIMD settings without Enabled": {edit: func(c *mcp.Config) {
			c.ClientIDMetadataDocuments = &mcp.ClientIDMetadataDocuments{Options: cimd.Options{Timeout: time.Second}}
		}, refused: "Config.ClientIDMetadataDocuments.Options"},
		"rate limits beside Disabled": {edit: func(c *mcp.Config) {
			c.RateLimits = &mcp.RateLimits{Disabled: true, Token: ratelimit.PerMinute(1, 1)}
		}, refused: "Config.RateLimits.Token"},
		"Disabled alone": {edit: func(c *mcp.Config) { c.RateLimits = &mcp.RateLimits{Disabled: true} }},
		"DefaultResource named the provider's way": {edit: func(c *mcp.Config) { c.Provider.DefaultResource = "http://127.0.0.1:1/mcp" },
			refused: "Provider.DefaultResource"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			tc.edit(&cfg)
			s, err := mcp.New(t.Context(), cfg)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("New = %v, want an error naming %s", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.KeyManager() != nil; got != tc.jwt {
				t.Errorf("JWT access tokens on = %v, want %v", got, tc.jwt)
			}
			if got := s.ClientIDMetadataDocuments() != nil; got != tc.cimd {
				t.Errorf("client ID metadata documents on = %v, want %v", got, tc.cimd)
			}
		})
	}
}
