// Package registration implements OAuth 2.0 dynamic client registration (RFC 7591) and
// its management protocol (RFC 7592) over a [provider.ClientStore], as MCP clients use it:
// lenient where real clients are sloppy (unknown members ignored, RFC defaults filled in,
// unknown scopes filtered) and strict where it matters (redirect URIs, URL schemes,
// secrets returned once and stored hashed, bounded request bodies). The metadata rules
// are provider.NormalizeClientMetadata's, the ones static clients and client ID metadata
// documents meet too, with registration's differences in Options (grant types, auth
// methods, scope policy). A client may register private_key_jwt (RFC 7523 §2.2) with its
// public keys in jwks; it gets no secret.
//
// Mount the [Handler] at the registration endpoint and below it:
//
//	reg, err := registration.NewHandler(store, registration.Options{
//		Endpoint:        "https://auth.example.com/register",
//		SupportedScopes: []string{"files:read", "files:write"},
//	})
//	mux.Handle("/register", reg)
//	mux.Handle("/register/", reg) // RFC 7592 client configuration endpoints
//
// Wire types ([ClientRegistrationRequest], [ClientRegistrationResponse],
// [Error]) are in types.go.
package registration
