package cimd_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// withAssertion adds to form (a token request of form's client_id) a client assertion
// (RFC 7523 §2.2) for the token endpoint, signed by key under kid, and returns form.
func (s *stack) withAssertion(t testing.TB, form url.Values, key any, alg jose.SignatureAlgorithm, kid string) url.Values {
	t.Helper()
	a, err := teststack.ClientAssertion(key, alg, kid, form.Get("client_id"), s.issuer+provider.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	form.Set("client_assertion_type", provider.ClientAssertionType)
	form.Set("client_assertion", a)
	return form
}

// Issue 11, RFC 7523 §2.2 with a client ID metadata document: a document declaring
// token_endpoint_auth_method private_key_jwt with its public keys in jwks gives a
// confidential client without a secret; it authenticates the code exchange and the
// refresh with assertions signed by its key; an assertion signed by another key, a
// wrong alg, client_id alone (as a public client), a guessed secret, or the old key
// after the document rotated its keys are invalid_client. RFC 8414: the metadata
// advertises private_key_jwt and its algorithms.
func TestFlow_PrivateKeyJWTDocument_RFC7523(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		const path = "/oauth/signing-client.json"
		id := docs.url(path)
		doc := func(key any, alg string) map[string]any {
			d := flowDoc(id, "Signing Client")
			d["token_endpoint_auth_method"] = provider.AuthMethodPrivateKeyJWT
			d["jwks"] = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "sig-1"}}}
			if alg != "" {
				d["token_endpoint_auth_signing_alg"] = alg
			}
			return d
		}
		docs.serve(path, doc(ec.Public(), "ES256"), "no-store")
		s := newStack(t, store, docs, &cimd.Options{})
		aud := s.issuer + provider.TokenPath
		meta := s.auth.Provider().Metadata()
		if !slices.Contains(meta.TokenEndpointAuthMethodsSupported, provider.AuthMethodPrivateKeyJWT) ||
			!slices.Equal(meta.TokenEndpointAuthSigningAlgValuesSupported, provider.ClientAssertionAlgs()) || meta.TokenEndpoint != aud {
			t.Fatalf("metadata %+v", meta)
		}
		withAssertion := func(form url.Values, key any, alg jose.SignatureAlgorithm) url.Values {
			return s.withAssertion(t, form, key, alg, "sig-1")
		}

		status, tok := s.token(t, withAssertion(s.code(t, id), ec, jose.ES256))
		if status != http.StatusOK || tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("code exchange: %d %+v", status, tok)
		}
		stored, err := store.LoadClient(t.Context(), id)
		if err != nil || stored.Public || stored.SecretHash != nil || stored.GetTokenEndpointAuthMethod() != provider.AuthMethodPrivateKeyJWT ||
			stored.JWKS == nil || len(stored.JWKS.Keys) != 1 || stored.TokenEndpointAuthSigningAlg != "ES256" {
			t.Fatalf("stored client %+v, %v", stored, err)
		}
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {id}}
		if status, tok = s.token(t, withAssertion(refresh, ec, jose.ES256)); status != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("refresh: %d %+v", status, tok)
		}
		// The unchanged document (fetched again: no-store) leaves the row alone: the keys
		// compare equal after the storage round trip.
		if again, err := store.LoadClient(t.Context(), id); err != nil || !again.UpdatedAt.Equal(stored.UpdatedAt) {
			t.Fatalf("row rewritten for an unchanged document: %v → %v (%v)", stored.UpdatedAt, again.UpdatedAt, err)
		}

		for name, form := range map[string]url.Values{
			"another key":               withAssertion(s.code(t, id), other, jose.ES256),
			"EdDSA when ES256 pinned":   withAssertion(s.code(t, id), ed, jose.EdDSA),
			"client_id alone (public)":  s.code(t, id),
			"client_secret (no secret)": func() url.Values { f := s.code(t, id); f.Set("client_secret", "guess"); return f }(),
		} {
			t.Run(name, func(t *testing.T) {
				if status, tr := s.token(t, form); status != http.StatusUnauthorized || tr.Error != "invalid_client" {
					t.Fatalf("%d %+v, want 401 invalid_client", status, tr)
				}
			})
		}

		// The document rotates to an Ed25519 key: the stored client follows it, the old key
		// stops working (no-store: every resolution fetches the document).
		docs.serve(path, doc(ed.Public(), ""), "no-store")
		if status, tr := s.token(t, withAssertion(s.code(t, id), ec, jose.ES256)); status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Fatalf("old key after rotation: %d %+v", status, tr)
		}
		if status, tr := s.token(t, withAssertion(s.code(t, id), ed, jose.EdDSA)); status != http.StatusOK {
			t.Fatalf("new key after rotation: %d %+v", status, tr)
		}
	})
}

// A document may not carry private key material, an HMAC alg, or keys by reference
// (jwks_uri) unless the resolver admits them (Options.JWKSURI: its provider fetches
// client keys); with it, a jwks_uri must be an https URL without user information or
// fragment, and not beside jwks (RFC 7591 §2). The client's first request fails with
// invalid_client naming the rule.
func TestFlow_PrivateKeyJWTDocumentRefusals(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Public(), KeyID: "k"}}}
	d := newDocServer(t)
	strict, byReference := d.resolver(t, nil), d.resolver(t, &cimd.Options{JWKSURI: true})
	for name, tc := range map[string]struct {
		r     *cimd.Resolver
		extra map[string]any
		want  string
	}{
		"jwks_uri without Options.JWKSURI": {strict, map[string]any{"jwks_uri": "https://app.example.com/jwks"}, "jwks_uri is not supported: this server does not fetch client keys; send jwks"},
		"jwks_uri over http on loopback":   {byReference, map[string]any{"jwks_uri": "http://127.0.0.1/jwks"}, "jwks_uri must be an https URL"},
		"jwks_uri with user information":   {byReference, map[string]any{"jwks_uri": "https://u:p@app.example.com/jwks"}, "jwks_uri must not contain user information"},
		"jwks_uri with a fragment":         {byReference, map[string]any{"jwks_uri": "https://app.example.com/jwks#k"}, "fragment"},
		"jwks_uri relative":                {byReference, map[string]any{"jwks_uri": "/jwks"}, "jwks_uri must be an absolute https URL"},
		"jwks and jwks_uri":                {byReference, map[string]any{"jwks": pub, "jwks_uri": "https://app.example.com/jwks"}, "must not both be present"},
		"private key":                      {strict, map[string]any{"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec, KeyID: "k"}}}}, "public key"},
		"HS256":                            {strict, map[string]any{"jwks": pub, "token_endpoint_auth_signing_alg": "HS256"}, "signing alg"},
		"HS256 with jwks_uri":              {byReference, map[string]any{"jwks_uri": "https://app.example.com/jwks", "token_endpoint_auth_signing_alg": "HS256"}, "signing alg"},
		"jwks not a JWK Set":               {strict, map[string]any{"jwks": map[string]any{"keys": []any{map[string]any{"kty": "EC"}}}}, "JWK Set"},
		"jwks for a public doc":            {strict, map[string]any{"token_endpoint_auth_method": "none", "jwks": pub}, "only for token_endpoint_auth_method private_key_jwt"},
	} {
		t.Run(name, func(t *testing.T) {
			path := "/refusal/" + strings.ReplaceAll(name, " ", "-")
			id := d.url(path)
			doc := with(validDoc(id), map[string]any{"token_endpoint_auth_method": provider.AuthMethodPrivateKeyJWT})
			d.serve(path, with(doc, tc.extra), "")
			if _, err := tc.r.ResolveClient(t.Context(), id); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// With Options.JWKSURI a valid jwks_uri is the client's key source, stored as given.
	path := "/accepted/jwks-uri"
	id := d.url(path)
	d.serve(path, with(validDoc(id), map[string]any{"token_endpoint_auth_method": provider.AuthMethodPrivateKeyJWT,
		"jwks_uri": "https://app.example.com/jwks", "token_endpoint_auth_signing_alg": "ES256"}), "")
	c, err := byReference.ResolveClient(t.Context(), id)
	if err != nil || c.JWKSURI != "https://app.example.com/jwks" || c.JWKS != nil || c.Public ||
		c.GetTokenEndpointAuthMethod() != provider.AuthMethodPrivateKeyJWT || c.TokenEndpointAuthSigningAlg != "ES256" {
		t.Fatalf("document with jwks_uri: %+v, %v", c, err)
	}
}

// Issue 11, RFC 7523 §2.2 with RFC 7591 §2 jwks_uri in a client ID metadata document:
// the document names a key set on the client's host instead of inline keys; mcp.New
// (which fetches client keys) accepts it, and the client authenticates the code
// exchange and the refresh with assertions its key signs. The key set is fetched once
// and cached; an assertion by another key with the same kid, or naming an unknown kid,
// is invalid_client. When the client rotates its key at the jwks_uri (a new kid), the
// first assertion with the new kid makes the set be fetched exactly once more and
// succeeds; the old key is refused from then on. When the document names another
// jwks_uri, the stored client follows it. Run on SQLite and PostgreSQL.
func TestFlow_PrivateKeyJWTDocumentJWKSURI_RFC7523(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	gormtest.Run(t, func(t *testing.T, store *gormstore.Store) {
		docs := newDocServer(t)
		const path, keysPath = "/oauth/uri-client.json", "/oauth/uri-client/jwks.json"
		id, jwksURI := docs.url(path), docs.url(keysPath)
		doc := flowDoc(id, "Key Set Client")
		doc["token_endpoint_auth_method"] = provider.AuthMethodPrivateKeyJWT
		doc["jwks_uri"] = jwksURI
		docs.serve(path, doc, "no-store")
		publish := func(key any, kid string) {
			set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Use: "sig"}}}
			docs.serve(keysPath, map[string]any{"keys": set.Keys}, "")
		}
		publish(oldKey.Public(), "2026-old")
		s := newStack(t, store, docs, &cimd.Options{})
		withAssertion := func(form url.Values, key any, alg jose.SignatureAlgorithm, kid string) url.Values {
			return s.withAssertion(t, form, key, alg, kid)
		}
		refused := func(t *testing.T, form url.Values) {
			t.Helper()
			if status, tr := s.token(t, form); status != http.StatusUnauthorized || tr.Error != "invalid_client" {
				t.Fatalf("%d %+v, want 401 invalid_client", status, tr)
			}
		}

		status, tok := s.token(t, withAssertion(s.code(t, id), oldKey, jose.ES256, "2026-old"))
		if status != http.StatusOK || tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("code exchange: %d %+v", status, tok)
		}
		stored, err := store.LoadClient(t.Context(), id)
		if err != nil || stored.Public || stored.SecretHash != nil || stored.JWKS != nil || stored.JWKSURI != jwksURI ||
			stored.GetTokenEndpointAuthMethod() != provider.AuthMethodPrivateKeyJWT {
			t.Fatalf("stored client %+v, %v", stored, err)
		}
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {id}}
		if status, tok = s.token(t, withAssertion(refresh, oldKey, jose.ES256, "2026-old")); status != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("refresh: %d %+v", status, tok)
		}
		if n := docs.count(keysPath); n != 1 {
			t.Fatalf("key set fetched %d times for two assertions, want 1 (cached)", n)
		}
		t.Run("another key with the client's kid", func(t *testing.T) {
			refused(t, withAssertion(s.code(t, id), other, jose.ES256, "2026-old"))
		})
		t.Run("unknown kid", func(t *testing.T) {
			refused(t, withAssertion(s.code(t, id), other, jose.ES256, "forged"))
		})

		// Rotation: the client publishes a new key under a new kid.
		publish(newKey.Public(), "2026-new")
		before := docs.count(keysPath)
		if status, tr := s.token(t, withAssertion(s.code(t, id), newKey, jose.EdDSA, "2026-new")); status != http.StatusOK {
			t.Fatalf("new kid after rotation: %d %+v", status, tr)
		}
		if n := docs.count(keysPath) - before; n != 1 {
			t.Fatalf("the unknown kid caused %d fetches of the key set, want 1", n)
		}
		if status, tr := s.token(t, withAssertion(s.code(t, id), newKey, jose.EdDSA, "2026-new")); status != http.StatusOK {
			t.Fatalf("new kid again: %d %+v", status, tr)
		}
		if n := docs.count(keysPath) - before; n != 1 {
			t.Fatalf("a known kid caused a fetch (%d in all since the rotation)", n)
		}
		refused(t, withAssertion(s.code(t, id), oldKey, jose.ES256, "2026-old"))

		// The document moves its keys to another jwks_uri: the stored client follows (the
		// document is no-store), and only the new URL's key works.
		const movedPath = "/keys/moved.json"
		moved, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		docs.serve(movedPath, map[string]any{"keys": []jose.JSONWebKey{{Key: moved.Public(), KeyID: "moved"}}}, "")
		doc["jwks_uri"] = docs.url(movedPath)
		docs.serve(path, doc, "no-store")
		if status, tr := s.token(t, withAssertion(s.code(t, id), moved, jose.ES256, "moved")); status != http.StatusOK {
			t.Fatalf("the key at the document's new jwks_uri: %d %+v", status, tr)
		}
		if c, err := store.LoadClient(t.Context(), id); err != nil || c.JWKSURI != docs.url(movedPath) {
			t.Fatalf("stored client after the move: %+v, %v", c, err)
		}
		refused(t, withAssertion(s.code(t, id), newKey, jose.EdDSA, "2026-new"))
	})
}
