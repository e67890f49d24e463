package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/test/conformance"
)

// The -pkjwt-* flags give the suite a private_key_jwt client: its private key as a
// PKCS#8 PEM file (kid by flag, or by default the key's RFC 7638 thumbprint) or as a
// private JWK (kid from the JWK), and the private_key_jwt checks pass with it; a flag
// without the other, or a file that is no private key, is a usage error (exit 2).
func TestRun_PrivateKeyJWTFlags(t *testing.T) {
	st := start(t, teststack.ConformanceOptions{})
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	thumb, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := st.Server.Provider().CreateClient(context.Background(), provider.ClientSpec{
		GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT,
		JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "cli"}, {Key: pub, KeyID: base64.RawURLEncoding.EncodeToString(thumb)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	pemFile := filepath.Join(dir, "key.pem")
	jwkFile := filepath.Join(dir, "key.jwk")
	junk := filepath.Join(dir, "junk")
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: priv, KeyID: "cli"})
	for f, b := range map[string][]byte{pemFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), jwkFile: jwk, junk: []byte("nope")} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, flags := range map[string][]string{
		"PEM": {"-pkjwt-client-id", c.ID, "-pkjwt-key", pemFile, "-pkjwt-kid", "cli"},
		"JWK": {"-pkjwt-client-id", c.ID, "-pkjwt-key", jwkFile},
		// The kid the demo's -pkjwt-client gives a PEM public key.
		"PEM, kid the thumbprint": {"-pkjwt-client-id", c.ID, "-pkjwt-key", pemFile},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(append([]string{"-mcp-url", st.MCPURL, "-json"}, flags...), &out, &errOut); code != 0 {
				t.Fatalf("exit %d; stderr %s", code, errOut.String())
			}
			var rep conformance.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"PKJWT-META", "PKJWT-ACCEPTED", "PKJWT-NO-REFRESH", "PKJWT-WRONG-AUD", "PKJWT-EXPIRED", "PKJWT-REPLAY"} {
				if r, _ := rep.Result(id); r.Status != conformance.Pass {
					t.Errorf("%s: %s %s %v", id, r.Status, r.Detail, r.Evidence)
				}
			}
		})
	}
	for name, flags := range map[string][]string{
		"id without key": {"-pkjwt-client-id", c.ID},
		"not a key":      {"-pkjwt-client-id", c.ID, "-pkjwt-key", junk, "-pkjwt-kid", "cli"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"-mcp-url", st.MCPURL}, flags...), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "pkjwt") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming the flag", name, code, errOut.String())
		}
	}
}
