// Package e2e holds end-to-end tests and benchmarks, and nothing else: the real MCP
// client SDKs (github.com/modelcontextprotocol/go-sdk and github.com/mark3labs/mcp-go)
// discover, register with and log in to the authorization server built by mcp.New, then
// call tools on real MCP servers of the same SDKs that it protects, over loopback HTTP,
// on SQLite and PostgreSQL.
//
// The tests read like a transcript of what each client does (401, protected resource
// metadata, authorization server metadata, registration, authorize, token, tool call,
// refresh, step-up) and check every step the authorization server saw.
package e2e
