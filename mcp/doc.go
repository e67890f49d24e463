// Package mcp is the resource-server side of MCP authorization: the protected resources
// an authorization server stands in front of, their RFC 9728 protected resource metadata,
// and the bearer-token middleware that guards an MCP endpoint.
//
// The pieces, each in its own file:
//
//   - [Resource] and [Registry]: the protected resources (RFC 8707), looked up by canonical URL.
//   - [ProtectedResourceMetadata] and [MetadataHandler]: RFC 9728 documents at
//     /.well-known/oauth-protected-resource{path}.
//   - [NewBearer] (or [MustRequireBearer]) and [RequireScopes]: RFC 6750 bearer-token checks with MCP's
//     challenges (resource_metadata, scope, insufficient_scope step-up).
//   - [TokenFromContext]: the verified identity for handlers.
//
// Dynamic client registration lives in the registration subpackage, client ID metadata
// documents (Config.ClientIDMetadataDocuments) in cimd; adapters for the go-sdk and
// mcp-go servers live in gosdk and mcpgo.
package mcp
