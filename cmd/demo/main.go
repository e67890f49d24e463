// Command demo is the one-command demo of fosite-mcp: an OAuth 2.1 authorization server
// with login and consent pages in front of a protected MCP server, and an MCP client that
// goes through the whole MCP authorization flow against it.
//
// Usage:
//
//	go run ./cmd/demo [serve] [flags]   # the server, on http://localhost:8080
//	go run ./cmd/demo client [flags]    # the client: log in, list tools, call whoami
//
// Run either with -h for its flags.
//
// The server keeps its data in SQLite (-db, default demo.db) or PostgreSQL (-postgres).
// Its secrets (the HMAC secret that signs tokens, codes, session cookies and CSRF
// tokens; the AES-256-GCM key that encrypts sessions at rest; the demo users' passwords
// for public issuers) are generated on the first start and kept in a file next to the
// database (-secrets, default demo.db.secrets, mode 0600), because they must outlive
// restarts: a new secret would invalidate every issued token, and a new key would make
// the stored sessions unreadable. Keep the file with the database and back it up with
// it; delete both to start over. Nothing secret is compiled in.
//
// On a loopback issuer (http://localhost:8080) the demo users have well-known passwords
// (alice/wonderland, bob/can-we-fix-it) and -auto-approve USER may skip the pages for
// tests; on a public issuer (-base-url https://…) the passwords are random and printed
// at start, and -auto-approve is refused.
//
// Clients get a client ID in either of the two ways MCP 2025-11-25 describes: dynamic
// client registration (RFC 7591) at /register, or a client ID metadata document
// (draft-ietf-oauth-client-id-metadata-document-00): an https URL as client_id, whose
// JSON document the server fetches (public addresses only, 5 s, 5 KiB, cached as its
// Cache-Control says; package mcp/cimd). The consent page then names the host that
// publishes the document. -cimd=false turns documents off, leaving registration.
//
// Access tokens are opaque by default: random strings looked up in the database, so a
// revoked token stops working at once. -access-tokens jwt issues RFC 9068 JWT access
// tokens instead, signed with keys kept (encrypted) in the database, rotated on
// schedule and published at /jwks.json, and verified by the MCP endpoint without a
// database query; a revoked JWT keeps working until it expires, which is why their
// default lifetime (-token-ttl) is 10 minutes rather than an hour.
//
// The server serves Prometheus metrics at /metrics (package provider/metrics; -metrics=false
// turns them off) and writes the audit trail (audit.* lines, provider.Config.Audit) to its
// log.
//
// While it runs, the server purges expired codes, tokens and pending requests every 10
// minutes, deletes dynamically registered clients unused for 90 days, and with JWT
// access tokens refreshes and rotates the signing keys (mcp.Server.Run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		stop()
		os.Exit(1)
	}
}

// run runs the subcommand named by args[0] ("serve", the default, or "client") until it
// finishes or ctx is cancelled. Output for the user goes to stdout, logs to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "client") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "client":
		opts, err := parseClientFlags(args, stderr)
		if err != nil {
			return err
		}
		return runClient(ctx, opts, stdout)
	default:
		cfg, err := parseServeFlags(args, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	}
}
