// Package registration implements OAuth 2.0 dynamic client registration (RFC 7591) and
// its management protocol (RFC 7592) over a [provider.ClientStore], as MCP clients use it:
// lenient where real clients are sloppy (unknown members ignored, RFC defaults filled in,
// unknown scopes filtered) and strict where it matters (redirect URIs, URL schemes,
// secrets returned once and stored hashed, bounded request bodies).
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
