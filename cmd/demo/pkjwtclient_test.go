package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// writeFile writes data to name in dir and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// publicPEM is pub as a PEM PUBLIC KEY block (openssl pkey -pubout).
func publicPEM(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestPKJWTClientFlag: -pkjwt-client CLIENT_ID=FILE reads a PEM public key (kid: its RFC
// 7638 thumbprint), a JWK Set or a single JWK, and is repeatable; a private key (PEM or
// JWK), a key without kid, an RSA key under 2048 bits, junk, a missing file, a file over
// 64 KiB and a value without both parts are refused at flag parsing.
func TestPKJWTClientFlag(t *testing.T) {
	dir := t.TempDir()
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	thumb, _ := (&jose.JSONWebKey{Key: edPub}).Thumbprint(crypto.SHA256)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Public(), KeyID: "ec-1"}, {Key: edPub, KeyID: "ed-1"}}})
	one, _ := json.Marshal(jose.JSONWebKey{Key: ec.Public(), KeyID: "ec-only"})
	pemFile := writeFile(t, dir, "pub.pem", publicPEM(t, edPub))
	setFile := writeFile(t, dir, "set.json", set)
	oneFile := writeFile(t, dir, "one.json", one)

	f, err := parseServeFlags([]string{"-pkjwt-client", "a=" + pemFile, "-pkjwt-client", "b=" + setFile, "-pkjwt-client", "c=" + oneFile}, io.Discard)
	if err != nil || len(f.pkjwtClients) != 3 {
		t.Fatalf("parsed %+v, %v", f.pkjwtClients, err)
	}
	kids := func(c pkjwtClient) (out []string) {
		for _, k := range c.JWKS.Keys {
			out = append(out, k.KeyID)
		}
		return out
	}
	for i, want := range [][]string{{base64.RawURLEncoding.EncodeToString(thumb)}, {"ec-1", "ed-1"}, {"ec-only"}} {
		c := f.pkjwtClients[i]
		if got := kids(c); strings.Join(got, ",") != strings.Join(want, ",") || c.ID != string(rune('a'+i)) {
			t.Errorf("client %d: %s with kids %v, want kids %v", i, c.ID, got, want)
		}
	}

	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: ec, KeyID: "k"})
	noKid, _ := json.Marshal(jose.JSONWebKey{Key: ec.Public()})
	big := make([]byte, maxJWKSFileBytes+1)
	for i := range big {
		big[i] = ' '
	}
	for name, tc := range map[string]struct{ value, want string }{
		"PEM private key": {"m=" + writeFile(t, dir, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})), "want a PUBLIC KEY"},
		"private JWK":     {"m=" + writeFile(t, dir, "priv.json", privJWK), "public key"},
		"JWK without kid": {"m=" + writeFile(t, dir, "nokid.json", noKid), "no kid"},
		"junk":            {"m=" + writeFile(t, dir, "junk", []byte("nope")), "neither PEM nor JSON"},
		"over 64 KiB":     {"m=" + writeFile(t, dir, "big.json", big), "larger than"},
		"missing file":    {"m=" + filepath.Join(dir, "absent"), "no such file"},
		"no file":         {"m=", "CLIENT_ID=PUBLIC_KEYS_FILE"},
		"no ID":           {"=" + pemFile, "CLIENT_ID=PUBLIC_KEYS_FILE"},
	} {
		if _, err := parseServeFlags([]string{"-pkjwt-client", tc.value}, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

// clientCredentials asks the demo's token endpoint for a client_credentials token for
// its MCP server, authenticating client id with an assertion (RFC 7523 §2.2) that key
// signs under kid.
func (d *testDemo) clientCredentials(t *testing.T, id string, key crypto.Signer, alg jose.SignatureAlgorithm, kid string) (int, map[string]any) {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: id, Subject: id, Audience: jwt.Audience{d.url + provider.TokenPath}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(d.url+provider.TokenPath, url.Values{
		"grant_type": {"client_credentials"}, "resource": {d.mcpURL},
		"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {a},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestPKJWTClient_ClientCredentials_RFC7523 on SQLite and PostgreSQL: a demo restarted
// with -pkjwt-client creates the machine client, which gets a client_credentials token
// bound to the MCP server (no refresh token) with an assertion its key signs; restarted
// with a rotated key file, the client's keys are the file's (the old key is refused, the
// new one accepted); an ID already taken by a registered client stops the start.
func TestPKJWTClient_ClientCredentials_RFC7523(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		d := startDemo(t, demoOptions{db: db, autoApprove: "alice"})
		dir := t.TempDir()
		pub1, priv1, _ := ed25519.GenerateKey(rand.Reader)
		ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		c1, err := parsePKJWTClient("m2m=" + writeFile(t, dir, "k1.pem", publicPEM(t, pub1)))
		if err != nil {
			t.Fatal(err)
		}
		kid1 := c1.JWKS.Keys[0].KeyID

		d.cfg.PKJWTClients = []pkjwtClient{c1}
		d.restart()
		status, tok := d.clientCredentials(t, "m2m", priv1, jose.EdDSA, kid1)
		if status != http.StatusOK || tok["access_token"] == nil || tok["refresh_token"] != nil {
			t.Fatalf("client_credentials: %d %v", status, tok)
		}
		if c, err := d.server.store.LoadClient(context.Background(), "m2m"); err != nil || c.Source != provider.ClientSourceStatic ||
			strings.Join(c.GrantTypes, ",") != "client_credentials" || c.GetTokenEndpointAuthMethod() != provider.AuthMethodPrivateKeyJWT {
			t.Fatalf("stored client %+v, %v", c, err)
		}

		// Rotation: the operator replaces the key file and restarts.
		rotated, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec2.Public(), KeyID: "k2"}}})
		c2, err := parsePKJWTClient("m2m=" + writeFile(t, dir, "k2.json", rotated))
		if err != nil {
			t.Fatal(err)
		}
		d.cfg.PKJWTClients = []pkjwtClient{c2}
		d.restart()
		if status, out := d.clientCredentials(t, "m2m", priv1, jose.EdDSA, kid1); status != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Fatalf("the replaced key: %d %v, want 401 invalid_client", status, out)
		}
		if status, out := d.clientCredentials(t, "m2m", ec2, jose.ES256, "k2"); status != http.StatusOK {
			t.Fatalf("the file's new key: %d %v", status, out)
		}

		// A registered client's ID is not taken over.
		reg := d.register(t, "Registered", "http://127.0.0.1:9/cb", nil)
		cfg := d.cfg
		cfg.PKJWTClients = []pkjwtClient{{ID: reg.ID, JWKS: c2.JWKS}}
		if s, err := newServer(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "taken by another kind of client") {
			if s != nil {
				_ = s.Close()
			}
			t.Fatalf("newServer with a registered client's ID: %v", err)
		}
	})
}
