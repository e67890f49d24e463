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
			a, err := teststack.ClientAssertion(key, alg, "sig-1", id, aud)
			if err != nil {
				t.Fatal(err)
			}
			form.Set("client_assertion_type", provider.ClientAssertionType)
			form.Set("client_assertion", a)
			return form
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

// A document may not pair private_key_jwt with keys by reference (jwks_uri) yet, nor
// carry private key material: the client's first request fails with invalid_client
// naming the rule.
func TestFlow_PrivateKeyJWTDocumentRefusals(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := newDocServer(t)
	r := d.resolver(t, nil)
	for name, tc := range map[string]struct {
		extra map[string]any
		want  string
	}{
		"jwks_uri":              {map[string]any{"jwks_uri": "https://app.example.com/jwks"}, "jwks_uri is not supported; send jwks"},
		"private key":           {map[string]any{"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec, KeyID: "k"}}}}, "public key"},
		"HS256":                 {map[string]any{"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Public(), KeyID: "k"}}}, "token_endpoint_auth_signing_alg": "HS256"}, "signing alg"},
		"jwks not a JWK Set":    {map[string]any{"jwks": map[string]any{"keys": []any{map[string]any{"kty": "EC"}}}}, "JWK Set"},
		"jwks for a public doc": {map[string]any{"token_endpoint_auth_method": "none", "jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Public(), KeyID: "k"}}}}, "only for token_endpoint_auth_method private_key_jwt"},
	} {
		t.Run(name, func(t *testing.T) {
			path := "/refusal/" + strings.ReplaceAll(name, " ", "-")
			id := d.url(path)
			doc := with(validDoc(id), map[string]any{"token_endpoint_auth_method": provider.AuthMethodPrivateKeyJWT})
			d.serve(path, with(doc, tc.extra), "")
			if _, err := r.ResolveClient(t.Context(), id); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
