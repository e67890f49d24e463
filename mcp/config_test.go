package mcp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fosite-mcp/fosite-mcp/compat"
	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// Issue 10 item 1: a provider setting New derives from Resources or Compat and the caller
// set to something else is refused with an error, never overwritten silently.
func TestNew_RefusesProviderFieldsItDerives(t *testing.T) {
	store := gormtest.Open(t, gormtest.SQLite)
	base := func() mcp.Config {
		return mcp.Config{
			Provider: provider.Config{Issuer: "http://127.0.0.1:1", Storage: store,
				GlobalSecret: []byte("server-test-global-secret-0123456789"),
				AutoApprove:  func(context.Context, *provider.AuthorizationRequest) (string, bool) { return "alice", true }},
			Resources: []resourceserver.Resource{{URL: "http://127.0.0.1:1/mcp"}},
		}
	}
	strict := compat.Options{}
	for name, edit := range map[string]func(*mcp.Config){
		"Resources":         func(c *mcp.Config) { c.Provider.Resources = []string{"http://127.0.0.1:1/other"} },
		"MatchResource":     func(c *mcp.Config) { c.Provider.MatchResource = func(string) (string, bool) { return "", false } },
		"RefreshTokenGrace": func(c *mcp.Config) { c.Provider.RefreshTokenGrace = provider.RefreshTokenGrace{Period: time.Second} },
		"TokenRedirectURIOptional without the compat switch": func(c *mcp.Config) {
			c.Compat = &strict
			c.Provider.TokenRedirectURIOptional = true
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			edit(&cfg)
			if _, err := mcp.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "Provider.") {
				t.Errorf("New = %v, want an error naming the provider field", err)
			}
		})
	}
	agreeing := compat.Options{TokenWithoutRedirectURI: true}
	cfg := base()
	cfg.Compat = &agreeing
	cfg.Provider.TokenRedirectURIOptional = true
	if _, err := mcp.New(t.Context(), cfg); err != nil {
		t.Errorf("New with TokenRedirectURIOptional agreeing with compat: %v", err)
	}
	if _, err := mcp.New(t.Context(), base()); err != nil {
		t.Errorf("New without any derived field set: %v", err)
	}
}
