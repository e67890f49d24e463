package gormstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// ctx returns a context bounded by the test's deadline (30 s at most).
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func randomString(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// newClient returns a confidential client with every field set.
func newClient(t testing.TB, id string) *provider.Client {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &provider.Client{
		ID:                          id,
		SecretHash:                  []byte("sha256$" + randomString(t, "")),
		SecretExpiresAt:             now.Add(90 * 24 * time.Hour),
		TokenEndpointAuthMethod:     provider.AuthMethodClientSecretBasic,
		RedirectURIs:                []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		GrantTypes:                  []string{"authorization_code", "refresh_token"},
		ResponseTypes:               []string{"code"},
		Scopes:                      []string{"read", "write", "offline_access"},
		Audience:                    []string{"https://mcp.example/"},
		ApplicationType:             "web",
		Name:                        "Test App",
		URI:                         "https://app.example",
		LogoURI:                     "https://app.example/logo.png",
		PolicyURI:                   "https://app.example/policy",
		TOSURI:                      "https://app.example/tos",
		Contacts:                    []string{"ops@app.example"},
		SoftwareID:                  "sw-1",
		SoftwareVersion:             "1.2.3",
		Source:                      provider.ClientSourceDynamic,
		RegistrationAccessTokenHash: []byte("rat-hash"),
		CreatedAt:                   now,
		UpdatedAt:                   now,
	}
}

func mustCreateClient(t testing.TB, s *gormstore.Store, id string) *provider.Client {
	t.Helper()
	c := newClient(t, id)
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	return c
}

// newRequest returns a request as fosite's handlers hand it to storage, with a session whose
// JSON carries marker.
func newRequest(client fosite.Client, requestID, marker string) *fosite.Request {
	now := time.Now().UTC().Truncate(time.Second)
	sess := &fosite.DefaultSession{
		Subject:  "alice",
		Username: "alice@example.com",
		Extra:    map[string]any{"marker": marker},
	}
	sess.SetExpiresAt(fosite.AuthorizeCode, now.Add(5*time.Minute))
	sess.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
	sess.SetExpiresAt(fosite.RefreshToken, now.Add(14*24*time.Hour))
	return &fosite.Request{
		ID:                requestID,
		RequestedAt:       now,
		Client:            client,
		RequestedScope:    fosite.Arguments{"read", "offline_access"},
		GrantedScope:      fosite.Arguments{"read"},
		RequestedAudience: fosite.Arguments{"https://mcp.example/"},
		GrantedAudience:   fosite.Arguments{"https://mcp.example/"},
		Form: url.Values{
			"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
			"code_challenge_method": {"S256"},
			"redirect_uri":          {"https://app.example/cb"},
		},
		Session: sess,
	}
}
