package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

// pkjwtClient is one -pkjwt-client ID=JWKS_FILE: a machine-to-machine client that
// authenticates with private_key_jwt (RFC 7523 §2.2) and uses the client_credentials
// grant, as the MCP client-credentials extension describes; its public keys come from
// the file. It lets the conformance suite's PKJWT-* checks run against the demo
// (mcp-auth-conformance -pkjwt-client-id ID -pkjwt-key PRIVATE_KEY_FILE).
type pkjwtClient struct {
	// ID is the client_id.
	ID string
	// JWKS are the client's public keys, read from the file.
	JWKS *jose.JSONWebKeySet
}

// maxJWKSFileBytes bounds a -pkjwt-client key file: a few public keys.
const maxJWKSFileBytes = 64 << 10

// parsePKJWTClient parses a -pkjwt-client value and reads its key file: a JWK Set
// ({"keys": […]}), a single JWK, or a PEM public key ("PUBLIC KEY", as openssl pkey
// -pubout writes it) whose kid is its RFC 7638 thumbprint (jwtaccess.Thumbprint, the
// conformance command's default kid for a PEM private key). Public keys only, as
// provider.ValidateClientJWKS says: RSA ≥ 2048 bits, P-256 or Ed25519, each with a kid.
func parsePKJWTClient(v string) (pkjwtClient, error) {
	id, file, ok := strings.Cut(v, "=")
	if !ok || id == "" || file == "" {
		return pkjwtClient{}, errors.New("want CLIENT_ID=PUBLIC_KEYS_FILE")
	}
	raw, err := readSmallFile(file, maxJWKSFileBytes)
	if err != nil {
		return pkjwtClient{}, err
	}
	set, err := parsePublicKeys(raw)
	if err != nil {
		return pkjwtClient{}, fmt.Errorf("%s: %w", file, err)
	}
	if set, err = provider.ValidateClientJWKS(set, ""); err != nil {
		return pkjwtClient{}, fmt.Errorf("%s: %w", file, err)
	}
	return pkjwtClient{ID: id, JWKS: set}, nil
}

// parsePublicKeys reads a JWK Set, a JWK or a PEM public key (see parsePKJWTClient).
func parsePublicKeys(raw []byte) (*jose.JSONWebKeySet, error) {
	if block, _ := pem.Decode(raw); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("a PEM %q block; want a PUBLIC KEY (never give the server a private key)", block.Type)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		kid, err := jwtaccess.Thumbprint(pub)
		if err != nil {
			return nil, err
		}
		return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid, Use: "sig"}}}, nil
	}
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, errors.New("neither PEM nor JSON")
	}
	set := &jose.JSONWebKeySet{}
	if probe.Keys != nil {
		if err := json.Unmarshal(raw, set); err != nil {
			return nil, fmt.Errorf("not a JWK Set: %w", err)
		}
		return set, nil
	}
	var k jose.JSONWebKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("not a JWK: %w", err)
	}
	set.Keys = []jose.JSONWebKey{k}
	return set, nil
}

// readSmallFile reads file, refusing one larger than limit bytes.
func readSmallFile(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(raw)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", file, limit)
	}
	return raw, err
}

// ensurePKJWTClients creates each -pkjwt-client as a static client (private_key_jwt,
// client_credentials, the demo's scopes), or, when it exists from an earlier start,
// replaces its keys with the file's. An ID taken by another kind of client is an error.
func (d *demoServer) ensurePKJWTClients(ctx context.Context, clients []pkjwtClient) error {
	p := d.as.Provider()
	for _, pc := range clients {
		_, _, err := p.CreateClient(ctx, provider.ClientSpec{
			ID: pc.ID, Name: "Machine client " + pc.ID, GrantTypes: []string{"client_credentials"},
			TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: pc.JWKS,
		})
		if err == nil {
			d.log.Info("private_key_jwt client created", "client_id", pc.ID, "keys", len(pc.JWKS.Keys))
			continue
		}
		if !errors.Is(err, provider.ErrClientExists) {
			return fmt.Errorf("-pkjwt-client %s: %w", pc.ID, err)
		}
		c, err := d.store.LoadClient(ctx, pc.ID)
		if err != nil {
			return fmt.Errorf("-pkjwt-client %s: %w", pc.ID, err)
		}
		if c.Source != provider.ClientSourceStatic || c.GetTokenEndpointAuthMethod() != provider.AuthMethodPrivateKeyJWT ||
			c.JWKSURI != "" || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) {
			return fmt.Errorf("-pkjwt-client %s: the client ID is taken by another kind of client", pc.ID)
		}
		c.JWKS, c.UpdatedAt = pc.JWKS, time.Now().UTC()
		if err := d.store.UpdateClient(ctx, c); err != nil {
			return fmt.Errorf("-pkjwt-client %s: %w", pc.ID, err)
		}
		d.log.Info("private_key_jwt client's keys replaced from the file", "client_id", pc.ID, "keys", len(pc.JWKS.Keys))
	}
	return nil
}
