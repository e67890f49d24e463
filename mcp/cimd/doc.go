// Package cimd resolves OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document-00), the client registration that MCP
// 2025-11-25 prefers: a client's client_id is an https URL, and the JSON document at
// that URL is the client's metadata (name, redirect URIs, grant types). No registration
// request is made; the authorization server fetches the document when the client shows
// up.
//
// A Resolver implements provider.ClientResolver; mcp.Config.ClientIDMetadataDocuments
// with Enabled turns it on for an mcp.New server (and advertises
// client_id_metadata_document_supported). With a bare provider, set
// provider.Config.ClientResolver to a Resolver and advertise the flag with
// provider.Config.EditMetadata.
//
// What a Resolver does, in order:
//   - Client ID (§3): ValidateClientIDURL: https, a host, a path other than "/", no
//     dot segments (also percent-encoded), no query, fragment or user information, in
//     canonical form (lowercase host, no default port), at most MaxClientIDLength bytes.
//   - Fetch (§4): GET with Accept: application/json, without following redirects, with
//     a timeout (Options.Timeout, 5 s) covering connection, headers and body, reading at
//     most Options.MaxDocumentBytes (5 KiB) incrementally. Only status 200 with a JSON
//     media type is accepted. Concurrent resolutions of one URL share one fetch; at
//     most Options.MaxConcurrentFetchesPerHost (4) fetches from one host (registrable
//     domain or IP address) and Options.MaxConcurrentFetches (16) in total run at once,
//     so a slow host cannot delay other clients' first logins.
//   - SSRF guard (§6.5): every connection's address is checked when it is dialed,
//     after DNS resolution, so a host name resolving (or re-resolving, DNS rebinding)
//     to a loopback, private, link-local, CGNAT, multicast, unspecified, reserved or
//     documentation address is refused, including such IPv4 addresses embedded in IPv6
//     (IPv4-mapped, NAT64, 6to4). No proxy from the environment is used.
//   - Document (§4.1): a JSON object whose client_id equals the URL exactly;
//     client_name (provider.ValidateClientName) and redirect_uris required; every
//     redirect URI valid for Options.RedirectURIRules (by default
//     provider.ValidateRedirectURI); no client_secret or client_secret_expires_at;
//     then provider.MetadataDocumentClientRules through provider.NormalizeClientMetadata,
//     the rules registrations and static clients meet too, with a document's fixed
//     differences: token_endpoint_auth_method absent or "none" (a public client), or
//     "private_key_jwt" with inline jwks (public keys, provider.ValidateClientJWKS) or,
//     with Options.JWKSURI, a jwks_uri (https, provider.ValidateClientJWKSURI; not both),
//     and optionally token_endpoint_auth_signing_alg;
//     never a shared secret; grant_types authorization_code (required), refresh_token
//     the device grant (provider.GrantTypeDeviceCode) and the jwt-bearer grant of ID-JAGs
//     (provider.GrantTypeJWTBearer), others ignored (RFC 7591 §2), defaulting to
//     Options.DefaultGrantTypes; response_types only "code"; at most MaxRedirectURIs
//     redirect URIs; URL fields (client_uri, logo_uri, policy_uri, tos_uri, jwks_uri)
//     https.
//   - Cache (§4.4): a valid document is kept for its Cache-Control max-age (minus Age),
//     Options.DefaultCacheTTL (5 minutes) without one, at most Options.MaxCacheTTL (24 h),
//     not at all with no-store, no-cache or max-age=0; at most Options.MaxCacheEntries
//     documents. Errors are never cached: every request retries.
//
// Errors are the reason shown to the client (invalid_client): they name the rule that
// failed, never an internal address; details go to the log.
//
// The provider stores each resolved client (provider.ClientSourceMetadataDocument) so
// that codes and tokens can reference it, and updates the row when the document
// changes; see provider.ClientResolver.
package cimd
