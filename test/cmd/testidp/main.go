// Command testidp runs the test enterprise identity provider (test/internal/testidp) on
// loopback, so that Enterprise-Managed Authorization runs on one machine with the demo:
//
//	go run ./test/cmd/testidp -addr 127.0.0.1:9400 -key-out idp.pem
//	go run ./cmd/demo -trust-idp http://127.0.0.1:9400=http://127.0.0.1:9400/jwks.json
//
// It serves its JWKS at /jwks.json and issues ID-JAGs at /token (RFC 8693 token exchange;
// subject_token is taken as the user's subject as is: there is no sign-in). It is a test
// double: never trust it outside a development machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
	"github.com/fosite-mcp/fosite-mcp/test/internal/testidp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testidp:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9400", "loopback `host:port` to listen on")
	keyIn := flag.String("key", "", "P-256 private key PEM `file` to sign with (default: a fresh key)")
	keyOut := flag.String("key-out", "", "write the signing key as PEM to this `file` (for the conformance suite's -idjag-key)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !loopback.IsHost(host) {
		return errors.New("-addr must be a loopback host:port")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	issuer := "http://" + ln.Addr().String()
	var idp *testidp.IdP
	if *keyIn != "" {
		pemKey, err := os.ReadFile(*keyIn)
		if err != nil {
			return err
		}
		idp, err = testidp.FromPEM(issuer, pemKey)
		if err != nil {
			return err
		}
	} else if idp, err = testidp.New(issuer); err != nil {
		return err
	}
	if *keyOut != "" {
		if err := os.WriteFile(*keyOut, idp.PrivateKeyPEM(), 0o600); err != nil {
			return err
		}
	}
	fmt.Printf("test IdP issuer %s\nJWKS            %s%s\ntoken exchange  %s%s\n", issuer, issuer, testidp.JWKSPath, issuer, testidp.TokenExchangePath)
	fmt.Printf("trust it with:  go run ./cmd/demo -trust-idp %s=%s%s\n", issuer, issuer, testidp.JWKSPath)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: idp.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
