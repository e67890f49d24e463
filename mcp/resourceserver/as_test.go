package resourceserver_test

import (
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/resourceserver"
	"github.com/fosite-mcp/fosite-mcp/provider"
)

// as wraps the test authorization server with fatal-on-error helpers; tokens go to
// teststack.DefaultSubject.
type as struct {
	*teststack.Stack
	t *testing.T
}

func newAS(t *testing.T, s provider.Storage, resources []string, edit func(*provider.Config)) *as {
	t.Helper()
	return &as{Stack: teststack.Start(t, teststack.Bare(s, resources, edit)), t: t}
}

func (a *as) tokens(scope, resource string) teststack.Tokens {
	a.t.Helper()
	tok, err := a.Tokens(teststack.DefaultSubject, scope, resource)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

func (a *as) code(scope, resource string) (code, verifier string) {
	a.t.Helper()
	code, verifier, err := a.Code(teststack.DefaultSubject, scope, resource)
	if err != nil {
		a.t.Fatal(err)
	}
	return code, verifier
}

func (a *as) revoke(token string) {
	a.t.Helper()
	if err := a.Revoke(teststack.DefaultSubject, token); err != nil {
		a.t.Fatal(err)
	}
}

// newIntrospectionVerifier creates a static confidential client for the resource server
// on a and returns a verifier that introspects through a's endpoint over loopback HTTP.
func newIntrospectionVerifier(a *as) *resourceserver.IntrospectionVerifier {
	t := a.t
	t.Helper()
	c, secret, err := a.Provider.CreateClient(t.Context(), provider.ClientSpec{Name: "resource server", RedirectURIs: []string{"https://rs.example/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := resourceserver.NewIntrospectionVerifier(resourceserver.IntrospectionConfig{
		Endpoint: a.Issuer + provider.IntrospectionPath, ClientID: c.ID, ClientSecret: secret, Issuer: a.Issuer,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
