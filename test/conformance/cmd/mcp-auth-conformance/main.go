// Command mcp-auth-conformance checks an MCP server and its authorization server
// against the MCP authorization specification, over HTTP only.
//
//	go run ./test/conformance/cmd/mcp-auth-conformance -mcp-url https://mcp.example.com/mcp
//
// It discovers the authorization server from the MCP endpoint, registers its own test
// clients through dynamic client registration (or uses -client-id), logs in through the
// chosen driver (-login auto for servers that approve every request, -login form with
// -username and -password for an HTML login and consent form), prints a table grouped
// by area with a summary line (or JSON with -json) and exits with status 1 when a
// check fails, 2 on a usage error.
package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
	"github.com/fosite-mcp/fosite-mcp/test/conformance"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcp-auth-conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		mcpURL        = fs.String("mcp-url", "", "the MCP endpoint, exactly as clients use it (required)")
		clientID      = fs.String("client-id", "", "a pre-registered client to use for the authorization flows")
		clientSecret  = fs.String("client-secret", "", "its secret (confidential clients)")
		clientAuth    = fs.String("client-auth", "", "its token endpoint auth method: none, client_secret_basic or client_secret_post (default by -client-secret)")
		redirectURI   = fs.String("redirect-uri", "", "a redirect URI registered for -client-id (never listened on)")
		introID       = fs.String("introspect-client-id", "", "a confidential client allowed to introspect (default -client-id when confidential)")
		introSecret   = fs.String("introspect-client-secret", "", "its secret (client_secret_basic)")
		login         = fs.String("login", "auto", "login driver: auto (the server approves at once) or form (fill an HTML login/consent form)")
		username      = fs.String("username", "", "form login: the test user's name")
		password      = fs.String("password", "", "form login: the test user's password")
		usernameField = fs.String("username-field", "username", "form login: the username input's name")
		passwordField = fs.String("password-field", "password", "form login: the password input's name")
		approve       = fs.String("approve", "", "form login: regular expression matching the approve button (default: approve, allow, accept, …)")
		other         = fs.String("other-resource", "", "another MCP server URL of the same authorization server (audience checks)")
		scope         = fs.String("scope", "", "space-separated scopes to request (default: the challenge's, else scopes_supported)")
		concurrency   = fs.Int("concurrency", 10, "parallel redemptions of one code in the concurrency check")
		graceWait     = fs.Duration("refresh-grace-wait", 0, "the server's grace window for rotated refresh tokens, if any: wait it out to check reuse detection")
		deviceWait    = fs.Duration("device-expiry-wait", 0, "wait out device codes living at most this long to check expired_token (RFC 8628)")
		pkjwtID       = fs.String("pkjwt-client-id", "", "a pre-registered private_key_jwt client allowed the client_credentials grant (private_key_jwt checks)")
		pkjwtKey      = fs.String("pkjwt-key", "", "its private key: a PEM file (PKCS#8, PKCS#1 or SEC 1) or a private JWK JSON file")
		pkjwtKid      = fs.String("pkjwt-kid", "", "the kid of its public key (default: the JWK's kid; for a PEM key its RFC 7638 thumbprint, the kid the demo's -pkjwt-client gives a PEM public key)")
		pkjwtAlg      = fs.String("pkjwt-alg", "", "the assertion algorithm: RS256, PS256, ES256 or EdDSA (default by key type)")
		idjagIssuer   = fs.String("idjag-issuer", "", "Enterprise-Managed Authorization: the issuer of an IdP the server trusts (with -idjag-key; IDJAG-* checks are skipped without)")
		idjagKey      = fs.String("idjag-key", "", "the P-256 private key PEM `file` of that IdP (go run ./test/cmd/testidp -key-out FILE)")
		keepClients   = fs.Bool("keep-clients", false, "do not delete the clients the suite registered")
		asJSON        = fs.Bool("json", false, "print the report as JSON")
		verbose       = fs.Bool("v", false, "show the evidence of passing checks too")
		debug         = fs.Bool("debug", false, "log every request to stderr (tokens redacted)")
		timeout       = fs.Duration("timeout", 15*time.Minute, "overall time limit")
		rateWait      = fs.Duration("rate-limit-wait", conformance.DefaultRateLimitWait, "wait at most this long for a 429's Retry-After before retrying (negative: never retry)")
		insecure      = fs.Bool("insecure", false, "skip TLS certificate verification (self-signed test deployments only)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *mcpURL == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: mcp-auth-conformance -mcp-url URL [flags]")
		fs.PrintDefaults()
		return 2
	}
	target := conformance.Target{
		MCPURL:        *mcpURL,
		OtherResource: *other,
		Scopes:        strings.Fields(*scope),
		Concurrency:   *concurrency,
		KeepClients:   *keepClients,

		RefreshGraceWait: *graceWait,
		DeviceExpiryWait: *deviceWait,
		RateLimitWait:    *rateWait,
	}
	if *clientID != "" {
		if *redirectURI == "" {
			fmt.Fprintln(stderr, "-client-id needs -redirect-uri (a redirect URI registered for the client)")
			return 2
		}
		target.Client = &conformance.ClientCredentials{ID: *clientID, Secret: *clientSecret, AuthMethod: *clientAuth, RedirectURI: *redirectURI}
	}
	if *pkjwtID != "" || *pkjwtKey != "" {
		c, err := assertionClient(*pkjwtID, *pkjwtKey, *pkjwtKid, *pkjwtAlg)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		target.PrivateKeyJWT = c
	}
	if (*idjagIssuer == "") != (*idjagKey == "") {
		fmt.Fprintln(stderr, "-idjag-issuer and -idjag-key go together")
		return 2
	}
	if *idjagKey != "" {
		pemKey, err := os.ReadFile(*idjagKey)
		if err != nil {
			fmt.Fprintln(stderr, "-idjag-key:", err)
			return 2
		}
		target.IDJAG = &conformance.IDJAGIssuer{Issuer: *idjagIssuer, KeyPEM: pemKey}
	}
	if *introID != "" {
		target.Introspector = &conformance.ClientCredentials{ID: *introID, Secret: *introSecret}
	}
	switch *login {
	case "auto":
		target.Login = conformance.AutoApprove{}
	case "form":
		if *username == "" {
			fmt.Fprintln(stderr, "-login form needs -username and -password")
			return 2
		}
		target.Login = conformance.FormLogin{Username: *username, Password: *password,
			UsernameField: *usernameField, PasswordField: *passwordField, Approve: *approve}
	default:
		fmt.Fprintf(stderr, "-login must be auto or form, not %q\n", *login)
		return 2
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if *insecure {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in for test deployments
	}
	target.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: transport}
	if *debug {
		target.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rep := conformance.Run(ctx, target)
	var err error
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout, &conformance.TextOptions{Verbose: *verbose})
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

// assertionClient reads the -pkjwt-* flags: client ID, a private key file (PEM or a
// private JWK), kid (default the JWK's, else the public key's RFC 7638 SHA-256
// thumbprint) and algorithm.
func assertionClient(id, keyFile, kid, alg string) (*conformance.AssertionClient, error) {
	if id == "" || keyFile == "" {
		return nil, errors.New("-pkjwt-client-id and -pkjwt-key go together")
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("-pkjwt-key: %w", err)
	}
	var key any
	if block, _ := pem.Decode(data); block != nil {
		if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
			if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				key, err = x509.ParseECPrivateKey(block.Bytes)
			}
		}
	} else {
		var jwk jose.JSONWebKey
		if err = jwk.UnmarshalJSON(data); err == nil {
			key = jwk.Key
			if kid == "" {
				kid = jwk.KeyID
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("-pkjwt-key %s: not a PEM private key or a private JWK: %w", keyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("-pkjwt-key %s: not a private key (%T)", keyFile, key)
	}
	if kid == "" {
		if kid, err = jwtaccess.Thumbprint(signer.Public()); err != nil {
			return nil, fmt.Errorf("-pkjwt-key %s: %w", keyFile, err)
		}
	}
	return &conformance.AssertionClient{ID: id, Key: signer, KeyID: kid, Algorithm: alg}, nil
}
