package idjag_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// TestIDJAG_AudienceMustBeTheIssuer (draft-ietf-oauth-identity-assertion-authz-grant
// §4.3: aud is the authorization server's issuer identifier): provider.New refuses a
// validator built for another audience, naming both, instead of starting a server that
// refuses every assertion; with the issuer as audience it starts.
func TestIDJAG_AudienceMustBeTheIssuer(t *testing.T) {
	v := validator(t, newIdP(t, "https://idp-a.example", "ka")) // Audience: aud
	store := gormtest.Open(t, gormtest.SQLite)
	cfg := func(issuer string) provider.Config {
		return provider.Config{
			Issuer:             issuer,
			Storage:            store,
			GlobalSecret:       []byte("0123456789abcdef0123456789abcdef-test"),
			Scopes:             []string{"read"},
			AutoApprove:        func(_ context.Context, _ *provider.AuthorizationRequest) (string, bool) { return "", false },
			IdentityAssertions: &provider.IdentityAssertionGrant{Validator: v},
			Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
	}
	_, err := provider.New(cfg(aud + "/other"))
	if err == nil || !strings.Contains(err.Error(), aud+`"`) || !strings.Contains(err.Error(), aud+`/other"`) {
		t.Fatalf("provider.New with issuer %s/other and audience %s = %v; want an error naming both", aud, aud, err)
	}
	if _, err := provider.New(cfg(aud)); err != nil {
		t.Fatalf("provider.New with the issuer as audience: %v", err)
	}
}
