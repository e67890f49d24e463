// Package oauth is the vocabulary the authorization server (package provider) shares with
// token verifiers and resource servers that run without it: the verified [AccessToken],
// the errors a verifier returns ([ErrInvalidToken], [ErrStorageUnavailable]), the OAuth
// error codes, RFC 8707 resource canonicalisation and RFC 6749 scope tokens.
//
// It imports only the standard library, so that a resource server in another process
// (mcp/resourceserver with provider/jwtaccess) links neither fosite nor the storage.
// Package provider re-exports each name (provider.AccessToken is oauth.AccessToken).
package oauth
