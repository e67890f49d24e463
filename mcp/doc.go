// Package mcp puts a spec-compliant OAuth 2.1 authorization server in front of MCP
// servers. [New] is the entry point: it takes a [Config] (the provider settings, the
// protected resources, and the optional parts below) and returns a [Server] to mount with
// [Server.Register] and to run with [Server.Run]:
//
//	auth, err := mcp.New(ctx, mcp.Config{
//		Provider:  provider.Config{Issuer: "https://example.com", Storage: store, GlobalSecret: secret, Authenticator: users},
//		Resources: []resourceserver.Resource{{URL: "https://example.com/mcp", Scopes: []string{"files:read"}}},
//	})
//	auth.Register(mux)
//	protect, err := gosdk.Protect(auth, resourceserver.BearerOptions{Resource: "https://example.com/mcp"})
//
// New wires the authorization server (package provider) with dynamic client
// registration (mcp/registration), client ID metadata documents (mcp/cimd), per-address
// rate limits (mcp/ratelimit), the compatibility shims (compat) and, optionally, RFC 9068
// JWT access tokens (provider/jwtaccess).
//
// The resource-server side (bearer middleware, step-up, RFC 9728 metadata, scopes) is
// package mcp/resourceserver, which an MCP server in another process imports without this
// package: see the split-deployment example. The go-sdk and mcp-go adapters are
// mcp/gosdk and mcp/mcpgo.
package mcp
