// Package resourceserver is the resource-server side of MCP authorization: the protected
// resources, their RFC 9728 metadata, and the bearer middleware that guards an MCP
// endpoint. It needs no authorization server in the process: alone it links no fosite,
// and with provider/jwtaccess (for JWTs) no fosite compose, storage or registration.
//
//   - [Resource] and [Registry]: the protected resources (RFC 8707), looked up by
//     canonical URL ([SameResource], [ResourceCovers]).
//   - [ProtectedResourceMetadata] and [NewMetadataHandler]: RFC 9728 documents at
//     [MetadataURL].
//   - [NewBearer] (or [MustRequireBearer]), [RequireScopes] and [ToolScopes]: RFC 6750
//     bearer checks with MCP's challenges and step-up ([Challenge]).
//   - [AccessTokenVerifier]: provider.Provider or mcp.Server in process,
//     jwtaccess.Verifier for JWTs, [IntrospectionVerifier] for opaque tokens elsewhere.
//   - [TokenFromContext]: the verified identity for handlers.
//
// The checks the middleware makes, in order, are described in docs/design-resourceserver.md.
package resourceserver
