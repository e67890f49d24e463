// Package idjag holds the end-to-end tests of Enterprise-Managed Authorization (the MCP
// extension io.modelcontextprotocol/enterprise-managed-authorization): test IdPs
// (test/internal/testidp) with their JWKS on loopback issue ID-JAGs, a client exchanges
// them at an mcp.New authorization server's token endpoint with the RFC 7523 JWT bearer
// grant, and calls a go-sdk MCP server with the token, on SQLite and PostgreSQL. Every
// check the token endpoint makes has a refusal test.
package idjag
