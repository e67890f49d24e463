// Command conformance-testserver serves the stack the conformance suites are tested
// against (mcp.New with auto-approval or the built-in login page, a go-sdk MCP server at
// /mcp) on a throwaway SQLite database, with a pre-registered public client for the
// official conformance suite, and prints what to point the suites at:
//
//	go run ./test/conformance/cmd/conformance-testserver -addr 127.0.0.1:8080
//	{"issuer":"http://127.0.0.1:8080/oauth","mcp_url":"http://127.0.0.1:8080/mcp","client_id":"official-conformance"}
//
//	go run ./test/conformance/cmd/mcp-auth-conformance -mcp-url http://127.0.0.1:8080/mcp
//	test/conformance/official/node_modules/.bin/node \
//	  test/conformance/official/node_modules/@modelcontextprotocol/conformance/dist/index.js \
//	  authorization --url http://127.0.0.1:8080/oauth --client-id official-conformance \
//	  --resource http://127.0.0.1:8080/mcp
//
// It is a test fixture: the database is deleted on exit and auto-approval logs anyone in.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/fosite-mcp/fosite-mcp/internal/teststack"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// ClientID is the pre-registered public client (redirect URI http://127.0.0.1/callback
// on any port).
const ClientID = "official-conformance"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-testserver:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("conformance-testserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	login := fs.String("login", "auto", "auto (approve every request) or form (built-in login page: alice / conformance-password)")
	verbose := fs.Bool("v", false, "log requests handled by the servers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *login != "auto" && *login != "form" {
		return fmt.Errorf("-login must be auto or form")
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	dir, err := os.MkdirTemp("", "conformance-testserver-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	store, err := gormstore.OpenSQLite(filepath.Join(dir, "oauth.db"), gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: "testserver", Secret: key}}, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := store.Migrate(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	st, err := teststack.New(ctx, teststack.Conformance(store, teststack.ConformanceOptions{Listener: ln, FormLogin: *login == "form", Logger: logger}))
	if err != nil {
		return err
	}
	defer st.Close()
	if _, _, err := st.Server.Provider().CreateClient(ctx, provider.ClientSpec{
		ID: ClientID, Name: "MCP conformance suite", Public: true,
		RedirectURIs: []string{"http://127.0.0.1/callback"},
	}); err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(map[string]string{"issuer": st.Issuer, "mcp_url": st.MCPURL, "client_id": ClientID}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
