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
// A Resolver validates the client ID URL, fetches the document with an SSRF guard, size
// and time limits and bounded concurrency, checks it against the rules registrations
// meet too, and caches it by its Cache-Control; errors name the failed rule as the
// client's invalid_client reason and are never cached. docs/design-cimd.md walks through
// every step in order, with the draft's sections and the defaults.
package cimd
