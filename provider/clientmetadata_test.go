package provider_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// The rules of each source, as the provider (static), registration and mcp/cimd build
// them.
var (
	registrationRules = provider.ClientRules{
		GrantTypes:        []string{"authorization_code", "refresh_token"},
		DefaultGrantTypes: []string{"authorization_code"},
		AuthMethods: []string{provider.AuthMethodNone, provider.AuthMethodClientSecretBasic,
			provider.AuthMethodClientSecretPost, provider.AuthMethodPrivateKeyJWT},
		DefaultAuthMethod: provider.AuthMethodClientSecretBasic,
		Scopes:            []string{"read", "write"},
		DefaultScopes:     []string{"read"},
	}
	documentRules = provider.MetadataDocumentClientRules(nil, provider.RedirectURIRules{})
)

func withRules(r provider.ClientRules, edit func(*provider.ClientRules)) provider.ClientRules {
	edit(&r)
	return r
}

// RFC 7591 §2 defaults and §3.2.2 refusals, per source: one normaliser for static
// clients, registrations and client ID metadata documents.
func TestNormalizeClientMetadata_RFC7591_2(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "k1"}}}
	privateKeys := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "k1"}}}
	const cb = "https://app.example/cb"
	documentKeysRules := withRules(documentRules, func(r *provider.ClientRules) { r.AllowJWKSURI = true })
	rejectUnknown := withRules(registrationRules, func(r *provider.ClientRules) { r.RejectUnknownScopes = true })
	named := withRules(registrationRules, func(r *provider.ClientRules) { r.NameFromRedirectHost = true })
	withCC := withRules(registrationRules, func(r *provider.ClientRules) {
		r.GrantTypes = append(slices.Clone(r.GrantTypes), "client_credentials")
	})

	type want struct {
		code string // error code; "" for success
		desc string // in the description
		// on success
		method, appType, name string
		grants, responses     []string
		scopes                []string
		public, hasKeys       bool
		jwksURI               string
	}
	cases := []struct {
		name  string
		rules provider.ClientRules
		m     provider.ClientMetadata
		want  want
	}{
		// Defaults (RFC 7591 §2).
		{"registration defaults", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}},
			want{method: "client_secret_basic", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"read"}}},
		{"lists deduplicated, empty members dropped", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb, "", cb},
			GrantTypes: []string{"authorization_code", "authorization_code", ""}, Scopes: []string{"write", "write"}},
			want{method: "client_secret_basic", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"write"}}},
		{"unknown scopes filtered", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, Scopes: []string{"openid", "write"}},
			want{method: "client_secret_basic", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"write"}}},
		{"only unknown scopes: the defaults", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, Scopes: []string{"openid"}},
			want{method: "client_secret_basic", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"read"}}},
		{"unknown scope refused when strict", rejectUnknown, provider.ClientMetadata{RedirectURIs: []string{cb}, Scopes: []string{"openid"}},
			want{code: "invalid_client_metadata", desc: "not supported"}},
		{"malformed scope", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, Scopes: []string{`a"b`}},
			want{code: "invalid_client_metadata", desc: "RFC 6749 §3.3"}},
		{"public client", registrationRules, provider.ClientMetadata{RedirectURIs: []string{"http://127.0.0.1/cb"}, TokenEndpointAuthMethod: "none"},
			want{method: "none", public: true, grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"read"}}},
		{"name from redirect host", named, provider.ClientMetadata{RedirectURIs: []string{"com.example.app:/cb"}},
			want{method: "client_secret_basic", name: "com.example.app:", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"read"}}},
		{"client_credentials without redirect URIs", withCC, provider.ClientMetadata{GrantTypes: []string{"client_credentials"}},
			want{method: "client_secret_basic", grants: []string{"client_credentials"}, responses: []string{}, scopes: []string{"read"}}},

		// Refusals (RFC 7591 §3.2.2).
		{"no redirect URI for the code grant", registrationRules, provider.ClientMetadata{},
			want{code: "invalid_redirect_uri", desc: "no redirect_uris"}},
		{"javascript redirect URI", registrationRules, provider.ClientMetadata{RedirectURIs: []string{"javascript:alert(1)"}},
			want{code: "invalid_redirect_uri", desc: "redirect URI"}},
		{"implicit grant", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, GrantTypes: []string{"implicit"}},
			want{code: "invalid_client_metadata", desc: "grant type"}},
		{"client_credentials not enabled", registrationRules, provider.ClientMetadata{GrantTypes: []string{"client_credentials"}},
			want{code: "invalid_client_metadata", desc: "grant type"}},
		{"client_credentials for a public client", withCC, provider.ClientMetadata{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "none"},
			want{code: "invalid_client_metadata", desc: "confidential"}},
		{"token response type", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, ResponseTypes: []string{"code", "token"}},
			want{code: "invalid_client_metadata", desc: "response type"}},
		{"code response without code grant (RFC 7591 §2.1)", registrationRules, provider.ClientMetadata{GrantTypes: []string{"refresh_token"}, ResponseTypes: []string{"code"}},
			want{code: "invalid_client_metadata", desc: "inconsistent"}},
		{"unknown auth method", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "magic"},
			want{code: "invalid_client_metadata", desc: "not supported"}},
		{"application_type desktop", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, ApplicationType: "desktop"},
			want{code: "invalid_client_metadata", desc: "application_type"}},
		{"client_name with U+202E", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, Name: "a\u202eb"},
			want{code: "invalid_client_metadata", desc: "client_name"}},
		{"client_uri http off loopback", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, URI: "http://app.example/"},
			want{code: "invalid_client_metadata", desc: "client_uri"}},
		{"logo_uri javascript", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, LogoURI: "javascript:alert(1)"},
			want{code: "invalid_client_metadata", desc: "logo_uri"}},
		{"tos_uri with a quote", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TOSURI: `https://a.example/"><x`},
			want{code: "invalid_client_metadata", desc: "tos_uri"}},

		// private_key_jwt (RFC 7523 §2.2): jwks xor jwks_uri, public keys, a supported alg.
		{"private_key_jwt with jwks", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: keys, TokenEndpointAuthSigningAlg: "EdDSA"},
			want{method: "private_key_jwt", hasKeys: true, grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"read"}}},
		{"private_key_jwt without jwks", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt"},
			want{code: "invalid_client_metadata", desc: "public key"}},
		{"private_key_jwt with a private key", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: privateKeys},
			want{code: "invalid_client_metadata", desc: "public key"}},
		{"private_key_jwt with HS256", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: keys, TokenEndpointAuthSigningAlg: "HS256"},
			want{code: "invalid_client_metadata", desc: "signing alg"}},
		{"private_key_jwt with jwks_uri", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://app.example/jwks"},
			want{code: "invalid_client_metadata", desc: "jwks_uri is not supported: this server does not fetch client keys; send jwks"}},
		{"jwks and jwks_uri", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: keys, JWKSURI: "https://app.example/jwks"},
			want{code: "invalid_client_metadata", desc: "must not both be present"}},
		{"jwks for client_secret_basic", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, JWKS: keys},
			want{code: "invalid_client_metadata", desc: "only for token_endpoint_auth_method private_key_jwt"}},
		{"signing alg for none", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "none", TokenEndpointAuthSigningAlg: "ES256"},
			want{code: "invalid_client_metadata", desc: "only for token_endpoint_auth_method private_key_jwt"}},
		{"empty jwks for none is ignored", registrationRules, provider.ClientMetadata{RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "none", JWKS: &jose.JSONWebKeySet{}},
			want{method: "none", public: true, grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"read"}}},

		// Client ID metadata documents: the fixed rules.
		{"document defaults", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{"http://127.0.0.1/cb"}, Scopes: []string{"tools"}},
			want{method: "none", public: true, appType: "native", name: "App", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{"tools"}}},
		{"document with private_key_jwt", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: keys},
			want{method: "private_key_jwt", hasKeys: true, appType: "web", name: "App", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{}}},
		{"document without client_name", documentRules, provider.ClientMetadata{RedirectURIs: []string{cb}},
			want{code: "invalid_client_metadata", desc: "no client_name"}},
		{"document with client_secret_basic", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "client_secret_basic"},
			want{code: "invalid_client_metadata", desc: "shared secret"}},
		{"document without authorization_code", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, GrantTypes: []string{"refresh_token"}},
			want{code: "invalid_client_metadata", desc: "must include authorization_code"}},
		// RFC 7591 §2: a document's grant types this server does not serve are ignored
		// (documents are published for every server); none supported is a refusal.
		{"document with unsupported grant types besides the code grant", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{"http://127.0.0.1/cb"},
			GrantTypes: []string{"authorization_code", "client_credentials", "implicit", "refresh_token"}},
			want{method: "none", public: true, appType: "native", name: "App", grants: []string{"authorization_code", "refresh_token"}, responses: []string{"code"}, scopes: []string{}}},
		{"document with only unsupported grant types", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, GrantTypes: []string{"client_credentials", "implicit"}},
			want{code: "invalid_client_metadata", desc: "grant type"}},
		{"document with too many redirect URIs", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: slices.Repeat([]string{cb}, provider.MaxMetadataDocumentRedirectURIs+1)},
			want{code: "invalid_client_metadata", desc: "too many"}},
		{"document with a loopback http client_uri", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, URI: "http://127.0.0.1/"},
			want{code: "invalid_client_metadata", desc: "client_uri must be an https URL"}},
		// Documents with keys by reference (issue 11): only where the provider fetches them
		// (AllowJWKSURI), https only, never beside jwks.
		{"document with jwks_uri", documentRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://app.example/jwks"},
			want{code: "invalid_client_metadata", desc: "jwks_uri is not supported: this server does not fetch client keys"}},
		{"document with jwks_uri, keys fetched", documentKeysRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://app.example/jwks", TokenEndpointAuthSigningAlg: "ES256"},
			want{method: "private_key_jwt", jwksURI: "https://app.example/jwks", appType: "web", name: "App", grants: []string{"authorization_code"}, responses: []string{"code"}, scopes: []string{}}},
		{"document with a loopback http jwks_uri", documentKeysRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "http://127.0.0.1/jwks"},
			want{code: "invalid_client_metadata", desc: "jwks_uri must be an https URL"}},
		{"document with jwks and jwks_uri", documentKeysRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKS: keys, JWKSURI: "https://app.example/jwks"},
			want{code: "invalid_client_metadata", desc: "must not both be present"}},
		{"document with a jwks_uri fragment", documentKeysRules, provider.ClientMetadata{Name: "App", RedirectURIs: []string{cb}, TokenEndpointAuthMethod: "private_key_jwt", JWKSURI: "https://app.example/jwks#k"},
			want{code: "invalid_client_metadata", desc: "fragment"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := provider.NormalizeClientMetadata(tc.m, tc.rules)
			if tc.want.code != "" {
				var merr *provider.ClientMetadataError
				if !errors.As(err, &merr) || merr.Code != tc.want.code || !strings.Contains(merr.Description, tc.want.desc) {
					t.Fatalf("error %#v, want %s containing %q", err, tc.want.code, tc.want.desc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if c.TokenEndpointAuthMethod != w.method || c.Public != w.public || c.ApplicationType != w.appType || c.Name != w.name ||
				!slices.Equal(c.GrantTypes, w.grants) || !slices.Equal(c.ResponseTypes, w.responses) ||
				!slices.Equal(c.Scopes, w.scopes) || (c.JWKS != nil) != w.hasKeys || c.JWKSURI != w.jwksURI {
				t.Fatalf("got %+v, want %+v", c, w)
			}
			if c.ID != "" || c.Source != "" || c.SecretHash != nil {
				t.Fatalf("the normaliser set identity or secret: %+v", c)
			}
		})
	}
}

// The normaliser's output passes the normaliser again unchanged: the provider checks a
// resolved document client a second time (ClientResolver).
func TestNormalizeClientMetadata_Idempotent(t *testing.T) {
	m := provider.ClientMetadata{Name: " App ", RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"tools", "tools"}, Contacts: []string{"a@example.com", ""}}
	first, err := provider.NormalizeClientMetadata(m, documentRules)
	if err != nil {
		t.Fatal(err)
	}
	second, err := provider.NormalizeClientMetadata(provider.MetadataOf(first), documentRules)
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != "App" || !slices.Equal(first.RedirectURIs, []string{"https://app.example/cb"}) ||
		!slices.Equal(first.Contacts, []string{"a@example.com"}) {
		t.Fatalf("first pass %+v", first)
	}
	if second.Name != first.Name || !slices.Equal(second.RedirectURIs, first.RedirectURIs) || !slices.Equal(second.GrantTypes, first.GrantTypes) ||
		!slices.Equal(second.Scopes, first.Scopes) || second.ApplicationType != first.ApplicationType ||
		second.TokenEndpointAuthMethod != first.TokenEndpointAuthMethod {
		t.Fatalf("second pass %+v differs from %+v", second, first)
	}
}

// ParseJWKS: absent and null are no key set; malformed sets are invalid_client_metadata.
func TestParseJWKS_RFC7517_5(t *testing.T) {
	for _, raw := range []string{"", "null", " null "} {
		if set, err := provider.ParseJWKS([]byte(raw)); set != nil || err != nil {
			t.Errorf("%q: %v %v", raw, set, err)
		}
	}
	for _, raw := range []string{`"x"`, `{"keys":[{"kty":"RSA"}]}`, `{"keys":{}}`} {
		var merr *provider.ClientMetadataError
		if _, err := provider.ParseJWKS([]byte(raw)); !errors.As(err, &merr) || merr.Code != "invalid_client_metadata" {
			t.Errorf("%q: %v", raw, err)
		}
	}
	set, err := provider.ParseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	if err != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != "k" {
		t.Fatalf("%v %v", set, err)
	}
}
