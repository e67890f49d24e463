package conformance

// Areas, in report order.
const (
	AreaASMetadata   = "AS metadata"
	AreaPRM          = "Protected resource metadata"
	AreaChallenges   = "Challenges"
	AreaRegistration = "Registration"
	AreaPKCE         = "PKCE"
	AreaRedirect     = "Redirect URIs"
	AreaResource     = "Resource indicators"
	AreaAuthzResp    = "Authorization responses"
	AreaToken        = "Token endpoint"
	AreaRefresh      = "Refresh tokens"
	AreaRevocation   = "Revocation"
	AreaIntrospect   = "Introspection"
	AreaConcurrency  = "Concurrency"
	AreaDevice       = "Device authorization"
	AreaPrivateKey   = "private_key_jwt"
	AreaIDJAG        = "Enterprise-managed authorization"
	AreaClients      = "Real clients"
)

// Short names of the sources cited below.
const (
	mcp0618 = "MCP 2025-06-18 Authorization"
	mcp1125 = "MCP 2025-11-25 Authorization"
	mcp0728 = "MCP 2026-07-28 Authorization"
	oauth21 = "OAuth 2.1 (draft-ietf-oauth-v2-1-13)"
	emaSrc  = "MCP extension Enterprise-Managed Authorization"
)

// catalogue lists every check, in report order.
var catalogue = []Check{
	// AS metadata
	{"AS-META-DISCOVERY", AreaASMetadata, "authorization server metadata found at one of the URLs MCP clients probe for the issuer", mcp1125 + " §Overview (5), §Authorization Server Metadata Discovery", MUST},
	{"AS-META-RFC8414", AreaASMetadata, "metadata served at the RFC 8414 path-inserted well-known URL", "RFC 8414 §3.1; " + mcp0618 + " §2.3 (Server Metadata Discovery)", MUST},
	{"AS-META-OIDC", AreaASMetadata, "metadata also served at the OpenID Connect discovery URLs (path insertion and path appending)", mcp1125 + " §Authorization Server Metadata Discovery; RFC 8414 §5", SHOULD},
	{"AS-META-CONTENT-TYPE", AreaASMetadata, "metadata is served as application/json", "RFC 8414 §3.2", MUST},
	{"AS-META-ISSUER", AreaASMetadata, "issuer is byte-identical to the issuer in authorization_servers the URL was built from", "RFC 8414 §3.3; " + mcp0728 + " (clients reject a differing issuer)", MUST},
	{"AS-META-REQUIRED", AreaASMetadata, "issuer, authorization_endpoint, token_endpoint and response_types_supported (with \"code\") present", "RFC 8414 §2", MUST},
	{"AS-META-PKCE", AreaASMetadata, "code_challenge_methods_supported present and lists S256", mcp1125 + " §Authorization Code Protection", MUST},
	{"AS-META-NO-PLAIN", AreaASMetadata, "code_challenge_methods_supported does not list plain", oauth21 + " §4.1.1, §7.5.2 (S256 whenever possible); RFC 9700 §2.1.1", SHOULD},
	{"AS-META-NO-NULL", AreaASMetadata, "no member is null (omitted instead; zod-based clients reject null)", "RFC 8414 §2, §3.2; TypeScript SDK metadata schema", MUST},
	{"AS-META-HTTPS", AreaASMetadata, "every endpoint is https (http only on a loopback host, for local testing)", mcp1125 + " §Communication Security; " + oauth21 + " §1.5", MUST},
	{"AS-META-CORS", AreaASMetadata, "metadata is readable cross-origin (Access-Control-Allow-Origin) for browser-based clients", "RFC 8414 §3 with Fetch (CORS); MCP TypeScript SDK in browsers", SHOULD},

	// Protected resource metadata
	{"PRM-DISCOVERY", AreaPRM, "protected resource metadata discoverable (resource_metadata in the challenge or a well-known URL)", mcp1125 + " §Protected Resource Metadata Discovery Requirements; RFC 9728 §3, §5.1", MUST},
	{"PRM-WELLKNOWN-PATH", AreaPRM, "metadata served at the path-inserted well-known URL of the MCP endpoint", "RFC 9728 §3.1; " + mcp1125 + " §Protected Resource Metadata Discovery Requirements", SHOULD},
	{"PRM-WELLKNOWN-ROOT", AreaPRM, "metadata also served at the root well-known URL (clients' second probe)", mcp1125 + " §Protected Resource Metadata Discovery Requirements", SHOULD},
	{"PRM-CONTENT-TYPE", AreaPRM, "metadata is served as application/json", "RFC 9728 §3.2", MUST},
	{"PRM-RESOURCE", AreaPRM, "resource is identical to the MCP URL", "RFC 9728 §3.3; " + mcp1125 + " §Canonical Server URI", MUST},
	{"PRM-AUTH-SERVERS", AreaPRM, "authorization_servers is present with at least one issuer", mcp1125 + " §Authorization Server Location", MUST},
	{"PRM-NO-OFFLINE", AreaPRM, "scopes_supported does not list offline_access", mcp0728 + " §Scope Selection Strategy", SHOULD},
	{"PRM-BEARER-HEADER", AreaPRM, "bearer_methods_supported, when present, is [\"header\"]", mcp1125 + " §Token Requirements (tokens only in the Authorization header)", MUST},
	{"PRM-NO-NULL", AreaPRM, "no member is null", "RFC 9728 §2; TypeScript SDK metadata schema", MUST},
	{"PRM-SAME-ORIGIN", AreaPRM, "the resource_metadata URL is on the MCP endpoint's origin (mcp-go ignores others)", "RFC 9728 §3, §7.3; mcp-go client", SHOULD},

	// Challenges
	{"CHAL-401", AreaChallenges, "a request without a token gets 401 with a Bearer WWW-Authenticate challenge", mcp1125 + " §Error Handling; RFC 6750 §3; RFC 9110 §15.5.2", MUST},
	{"CHAL-RESOURCE-METADATA", AreaChallenges, "the 401 challenge carries resource_metadata", mcp0618 + " §2.3.1 (Authorization Server Location); RFC 9728 §5.1", MUST},
	{"CHAL-SCOPE", AreaChallenges, "the 401 challenge carries scope", mcp1125 + " §Protected Resource Metadata Discovery Requirements", SHOULD},
	{"CHAL-NO-OFFLINE", AreaChallenges, "challenges never ask for offline_access", mcp0728 + " §Scope Selection Strategy", SHOULD},
	{"CHAL-EXPOSE-HEADER", AreaChallenges, "Access-Control-Expose-Headers names WWW-Authenticate (browser clients read the challenge)", "Fetch (CORS); MCP TypeScript SDK in browsers", SHOULD},
	{"CHAL-VALID-TOKEN", AreaChallenges, "a token obtained for the MCP URL is accepted", "RFC 6750 §2.1; " + mcp1125 + " §Token Handling", MUST},
	{"CHAL-INVALID-TOKEN", AreaChallenges, "an invalid token gets 401", mcp1125 + " §Token Handling", MUST},
	{"CHAL-INVALID-TOKEN-CODE", AreaChallenges, "an invalid token's challenge says error=\"invalid_token\"", "RFC 6750 §3, §3.1", SHOULD},
	{"CHAL-REFRESH-AS-ACCESS", AreaChallenges, "a refresh token presented as a bearer token gets 401", mcp1125 + " §Access Token Privilege Restriction; RFC 6750 §3.1", MUST},
	{"CHAL-AUDIENCE", AreaChallenges, "a token bound to another resource gets 401", mcp1125 + " §Token Handling, §Access Token Privilege Restriction; RFC 8707 §2", MUST},
	{"CHAL-QUERY-TOKEN", AreaChallenges, "a token in the query string (access_token=) is not accepted", mcp1125 + " §Token Requirements", MUST},
	{"CHAL-SESSION-NO-TOKEN", AreaChallenges, "a request with an MCP session ID but no token gets 401", mcp1125 + " §Token Requirements (authorization in every request, even within a session)", MUST},
	{"CHAL-INSUFFICIENT-SCOPE", AreaChallenges, "a token lacking the challenged scope gets 403 error=\"insufficient_scope\" with scope", mcp1125 + " §Runtime Insufficient Scope Errors; RFC 6750 §3.1", SHOULD},

	// Registration
	{"REG-CIMD", AreaRegistration, "client ID metadata documents advertised (client_id_metadata_document_supported)", mcp1125 + " §Client ID Metadata Documents", SHOULD},
	{"REG-CIMD-ENFORCED", AreaRegistration, "a URL client_id whose document cannot be fetched or is not https is refused without redirect", mcp1125 + " §Client ID Metadata Documents (Implementation Requirements); draft-ietf-oauth-client-id-metadata-document-00 §3, §4", MUST},
	{"REG-DCR-MINIMAL", AreaRegistration, "a minimal registration (redirect_uris only) gets 201 with client_id, RFC defaults and the effective metadata", "RFC 7591 §2, §3.1, §3.2.1", MUST},
	{"REG-DCR-GOSDK", AreaRegistration, "the go-sdk's registration request is accepted", "RFC 7591 §3.1; go-sdk auth.AuthorizationCodeHandler", MUST},
	{"REG-DCR-MCPGO", AreaRegistration, "mcp-go's registration request (with its non-standard resource member) is accepted", "RFC 7591 §2 (unknown members ignored); mcp-go client", MUST},
	{"REG-DCR-TSSDK", AreaRegistration, "the TypeScript SDK's registration request is accepted", "RFC 7591 §3.1; MCP TypeScript SDK", MUST},
	{"REG-DCR-REJECT-REDIRECT", AreaRegistration, "redirect URIs with a fragment or a javascript:, data: or vbscript: scheme get 400 invalid_redirect_uri", "RFC 7591 §2, §3.2.2; RFC 6749 §3.1.2", MUST},
	{"REG-DCR-REJECT-METADATA", AreaRegistration, "an unknown auth method, an unsupported grant type or a javascript: client_uri is refused with 400 invalid_client_metadata (or replaced in the response)", "RFC 7591 §2, §3.2.1, §3.2.2", MUST},
	{"REG-DCR-REJECT-JSON", AreaRegistration, "a body that is not a JSON object gets 400 with an RFC 7591 error", "RFC 7591 §3.2.2", MUST},
	{"REG-DCR-NO-NULL", AreaRegistration, "registration responses have no null member", "RFC 7591 §3.2.1; TypeScript SDK schema", MUST},

	// PKCE
	{"PKCE-S256", AreaPKCE, "the RFC 7636 Appendix B vector (S256) is accepted", "RFC 7636 §4.6, App. B", MUST},
	{"PKCE-WRONG-VERIFIER", AreaPKCE, "a wrong code_verifier gets 400 invalid_grant", "RFC 7636 §4.6", MUST},
	{"PKCE-MISSING-VERIFIER", AreaPKCE, "a token request without code_verifier (challenge sent) is refused", "RFC 7636 §4.6; " + oauth21 + " §4.1.3", MUST},
	{"PKCE-PLAIN-REFUSED", AreaPKCE, "code_challenge_method=plain is refused", oauth21 + " §4.1.1; " + mcp1125 + " §Authorization Code Protection (S256; this suite's MCP profile refuses plain)", MUST},
	{"PKCE-MISSING-CHALLENGE", AreaPKCE, "an authorization request without code_challenge is refused (public client)", oauth21 + " §4.1.1, §7.5.2", MUST},
	{"PKCE-DOWNGRADE", AreaPKCE, "a code_verifier is refused when the authorization request had no code_challenge", "RFC 9700 §2.1.1, §4.8.2", MUST},

	// Redirect URIs
	{"REDIR-LOOPBACK-PORT", AreaRedirect, "a 127.0.0.1 redirect URI is accepted on any port", "RFC 8252 §7.3", MUST},
	{"REDIR-LOCALHOST-PORT", AreaRedirect, "a localhost redirect URI is accepted on any port (Claude Code registers http://localhost/callback)", "RFC 8252 §7.3, §8.3; Claude Code client", SHOULD},
	{"REDIR-LOOPBACK-HOST", AreaRedirect, "the loopback redirect URI's port may vary, its host may not: 127.0.0.1.attacker.invalid and localhost.attacker.invalid are refused without redirect", "RFC 8252 §7.3, §8.3; RFC 9700 §4.1.3", MUST},
	{"REDIR-EXACT", AreaRedirect, "a redirect URI differing from the registered one in path or query is refused without redirect", mcp1125 + " §Open Redirection; RFC 9700 §2.1, §4.1.3; RFC 6749 §4.1.2.1", MUST},
	{"REDIR-UNREGISTERED", AreaRedirect, "an unregistered redirect URI is refused without redirect", "RFC 6749 §4.1.2.1, §10.15; " + mcp1125 + " §Open Redirection", MUST},
	{"REDIR-UNKNOWN-CLIENT", AreaRedirect, "an unknown client_id is refused without redirect", "RFC 6749 §4.1.2.1", MUST},
	{"REDIR-HTTP-LOOPBACK-ONLY", AreaRedirect, "a plain http redirect URI on a non-loopback host is refused (at registration or authorization)", mcp1125 + " §Communication Security (redirect URIs localhost or https); " + oauth21 + " §1.5", MUST},

	// Resource indicators
	{"RES-TOKEN-REQUEST", AreaResource, "resource on both the authorization and the token request (what MCP clients send) is accepted", mcp1125 + " §Resource Parameter Implementation; RFC 8707 §2", MUST},
	{"RES-AUDIENCE", AreaResource, "the token is bound to the requested resource (introspection aud, or refused by the other resource)", "RFC 8707 §2; " + mcp1125 + " §Token Audience Binding and Validation", MUST},
	{"RES-UPPERCASE", AreaResource, "a resource with uppercase scheme and host is accepted as the MCP URL", mcp1125 + " §Canonical Server URI", SHOULD},
	{"RES-UNKNOWN", AreaResource, "an unknown resource gets invalid_target", "RFC 8707 §2", SHOULD},
	{"RES-FRAGMENT", AreaResource, "a resource with a fragment gets invalid_target", "RFC 8707 §2", SHOULD},
	{"RES-WIDEN", AreaResource, "a token request naming a resource outside the grant gets invalid_target", "RFC 8707 §2.2", MUST},
	{"RES-RETRYABLE", AreaResource, "after invalid_target the code can still be redeemed and the refresh token still used (the error is retryable)", "RFC 8707 §2.2; TypeScript SDK and go-sdk retry behaviour", SHOULD},
	{"RES-NARROW", AreaResource, "a grant for two resources can be narrowed to one at the token endpoint", "RFC 8707 §2.2", SHOULD},
	{"RES-OMITTED-TOKEN", AreaResource, "a token request without resource gets a token for the grant's resource", "RFC 8707 §2.2", SHOULD},
	{"RES-REFRESH-WIDEN", AreaResource, "a refresh naming a resource outside the grant gets invalid_target", "RFC 8707 §2.2; RFC 6749 §6", MUST},
	{"RES-REFRESH-KEEPS", AreaResource, "a refresh without resource keeps the audience (go-sdk sends none on refresh)", "RFC 8707 §2.2; go-sdk client", MUST},

	// Issuer identification
	{"ISS-ADVERTISED", AreaAuthzResp, "authorization_response_iss_parameter_supported is true exactly when iss is sent", "RFC 9207 §3; " + mcp0728 + " (go-sdk rejects an unadvertised iss)", MUST},
	{"ISS-SUCCESS", AreaAuthzResp, "successful authorization responses carry iss equal to the metadata issuer", "RFC 9207 §2, §2.4; " + mcp0728, MUST},
	{"ISS-ERROR", AreaAuthzResp, "error authorization responses carry iss equal to the metadata issuer", "RFC 9207 §2; " + mcp0728, MUST},
	{"AUTHZ-STATE", AreaAuthzResp, "authorization responses return state exactly once, unchanged", "RFC 6749 §4.1.2, §4.1.2.1", MUST},

	// Token endpoint
	{"TOKEN-NO-STORE", AreaToken, "token responses carry Cache-Control: no-store", "RFC 6749 §5.1; " + oauth21 + " §3.2.3", MUST},
	{"TOKEN-JSON", AreaToken, "token responses are application/json", "RFC 6749 §5.1", MUST},
	{"TOKEN-TYPE", AreaToken, "token_type is Bearer", "RFC 6749 §5.1; RFC 6750 §4", MUST},
	{"TOKEN-EXPIRES-IN", AreaToken, "expires_in is present", "RFC 6749 §5.1 (RECOMMENDED); " + mcp1125 + " §Token Theft (short-lived tokens)", SHOULD},
	{"TOKEN-ERRORS", AreaToken, "errors use the RFC 6749 §5.2 codes and JSON format (unsupported_grant_type, invalid_grant, invalid_request, invalid_client)", "RFC 6749 §5.2", MUST},
	{"TOKEN-BASIC-401", AreaToken, "failed client_secret_basic authentication gets 401 with WWW-Authenticate: Basic", "RFC 6749 §5.2", MUST},
	{"TOKEN-CODE-REPLAY", AreaToken, "a code redeemed twice gets invalid_grant the second time", "RFC 6749 §4.1.2, §5.2; " + oauth21 + " §4.1.3", MUST},
	{"TOKEN-CODE-REPLAY-REVOKES", AreaToken, "replaying a code revokes the tokens issued for it", "RFC 6749 §4.1.2; " + oauth21 + " §4.1.3", SHOULD},
	{"TOKEN-REDIRECT-MISMATCH", AreaToken, "a token request whose redirect_uri differs from the authorization request's gets invalid_grant", "RFC 6749 §4.1.3; " + oauth21 + " §4.1.3", MUST},
	{"TOKEN-CLIENT-MISMATCH", AreaToken, "a code issued to one client cannot be redeemed by another", "RFC 6749 §4.1.3; " + oauth21 + " §4.1.3", MUST},

	// Refresh tokens
	{"REFRESH-ROTATION", AreaRefresh, "refreshing returns a new refresh token (public client)", mcp1125 + " §Token Theft; " + oauth21 + " §4.3.1", MUST},
	{"REFRESH-OLD-INVALID", AreaRefresh, "a rotated-out refresh token gets invalid_grant", oauth21 + " §4.3.1; RFC 9700 §4.14.2", MUST},
	{"REFRESH-SCOPE-WIDEN", AreaRefresh, "a refresh asking for a scope not originally granted gets invalid_scope", "RFC 6749 §6, §5.2", MUST},
	{"REFRESH-SCOPE-NARROW", AreaRefresh, "a refresh asking for fewer scopes gets an access token of those scopes", "RFC 6749 §6, §3.3", SHOULD},
	{"REFRESH-REUSE-REVOKES", AreaRefresh, "reusing a rotated-out refresh token revokes the grant's current refresh token", "RFC 9700 §4.14.2; " + oauth21 + " §4.3.1", SHOULD},

	// Revocation
	{"REVOKE-REFRESH", AreaRevocation, "a revoked refresh token cannot be used", "RFC 7009 §2, §2.1", MUST},
	{"REVOKE-ACCESS", AreaRevocation, "a revoked access token is refused by the MCP server", "RFC 7009 §2", SHOULD},
	{"REVOKE-CASCADE", AreaRevocation, "revoking a refresh token invalidates the access tokens of its grant", "RFC 7009 §2.1", SHOULD},
	{"REVOKE-HINT", AreaRevocation, "a wrong token_type_hint does not stop the revocation", "RFC 7009 §2.1", MUST},
	{"REVOKE-OWNER-ONLY", AreaRevocation, "another client cannot revoke a client's token", "RFC 7009 §2.1", MUST},
	{"REVOKE-UNKNOWN", AreaRevocation, "revoking an unknown token gets 200", "RFC 7009 §2.2", MUST},

	// Introspection
	{"INTRO-AUTH", AreaIntrospect, "introspection without client authentication is refused", "RFC 7662 §2.1, §4", MUST},
	{"INTRO-ACTIVE", AreaIntrospect, "a valid access token introspects as active with its client_id", "RFC 7662 §2.2", MUST},
	{"INTRO-INACTIVE", AreaIntrospect, "unknown and revoked tokens introspect as {\"active\":false}", "RFC 7662 §2.2", MUST},
	{"INTRO-SELF-REGISTERED", AreaIntrospect, "a client anyone can register (dynamic registration) cannot introspect other clients' tokens", "RFC 7662 §4 (authorization, not only authentication); RFC 7591 §5", SHOULD},

	// Concurrency
	{"CONC-CODE-ONCE", AreaConcurrency, "parallel redemptions of one code yield exactly one token response", "RFC 6749 §4.1.2; " + oauth21 + " §4.1.3", MUST},

	// Device authorization grant (skipped when the server advertises none)
	{"DEVICE-META", AreaDevice, "with a device_authorization_endpoint, grant_types_supported lists the device_code grant", "RFC 8628 §4; RFC 8414 §2", MUST},
	{"DEVICE-RESPONSE", AreaDevice, "a device authorization response has device_code, user_code, verification_uri, expires_in (and interval)", "RFC 8628 §3.2", MUST},
	{"DEVICE-PENDING", AreaDevice, "polling before the user decided gets 400 authorization_pending", "RFC 8628 §3.5", MUST},
	{"DEVICE-SLOW-DOWN", AreaDevice, "polling again at once gets slow_down (the interval is enforced)", "RFC 8628 §3.5, §5.2", SHOULD},
	{"DEVICE-DENIED", AreaDevice, "a device code the user denied gets 400 access_denied", "RFC 8628 §3.5", MUST},
	{"DEVICE-SINGLE-USE", AreaDevice, "an approved device code yields tokens once, then invalid_grant", "RFC 8628 §3.5; RFC 6749 §5.2", MUST},
	{"DEVICE-EXPIRED", AreaDevice, "an expired device code gets 400 expired_token", "RFC 8628 §3.5", MUST},

	// private_key_jwt client authentication (skipped when the server does not advertise
	// it; all but PKJWT-META need Target.PrivateKeyJWT)
	{"PKJWT-META", AreaPrivateKey, "every endpoint listing private_key_jwt (token, revocation, introspection) lists its signing algorithms, without none or HMAC", "RFC 8414 §2; RFC 7523 §2.2", MUST},
	{"PKJWT-ACCEPTED", AreaPrivateKey, "client_credentials with a valid client assertion gets an access token the MCP server accepts", "RFC 7523 §2.2; RFC 6749 §4.4; RFC 8707 §2", MUST},
	{"PKJWT-NO-REFRESH", AreaPrivateKey, "client_credentials issues no refresh token", "RFC 6749 §4.4.3", SHOULD},
	{"PKJWT-WRONG-AUD", AreaPrivateKey, "an assertion whose aud is not the authorization server gets invalid_client", "RFC 7523 §3 (3), §3.2", MUST},
	{"PKJWT-EXPIRED", AreaPrivateKey, "an expired assertion gets invalid_client", "RFC 7523 §3 (4), §3.2", MUST},
	{"PKJWT-REPLAY", AreaPrivateKey, "an accepted assertion sent again (same jti) gets invalid_client", "RFC 7523 §3 (7); RFC 7521 §5.2", SHOULD},
	// Enterprise-managed authorization (ID-JAG), with Target.IDJAG
	{"IDJAG-META", AreaIDJAG, "grant_types_supported lists the jwt-bearer grant and authorization_grant_profiles_supported the id-jag profile", emaSrc + " §6; draft-ietf-oauth-identity-assertion-authz-grant §7.2", MUST},
	{"IDJAG-ACCEPT", AreaIDJAG, "a valid ID-JAG is exchanged for an access token the MCP endpoint accepts", emaSrc + " §5; RFC 7523 §2.1", MUST},
	{"IDJAG-REPLAY", AreaIDJAG, "an ID-JAG's jti is single use: a replay is invalid_grant", emaSrc + " §7.4.2", MUST},
	{"IDJAG-TYP", AreaIDJAG, "an assertion without typ oauth-id-jag+jwt is invalid_grant", "draft-ietf-oauth-identity-assertion-authz-grant §3.1, §4.4.1", MUST},
	{"IDJAG-AUD", AreaIDJAG, "an ID-JAG whose aud is another authorization server is invalid_grant", emaSrc + " §7.6.2", MUST},
	{"IDJAG-EXPIRED", AreaIDJAG, "an expired ID-JAG is invalid_grant", emaSrc + " §7.4.2; RFC 7523 §3", MUST},
	{"IDJAG-CLIENT", AreaIDJAG, "an ID-JAG issued to another client_id is invalid_grant", "draft-ietf-oauth-identity-assertion-authz-grant §4.4.1", MUST},
	{"IDJAG-RESOURCE", AreaIDJAG, "an ID-JAG whose resource is not served by the server is invalid_grant", emaSrc + " §7.6.2", MUST},
	{"IDJAG-SCOPE", AreaIDJAG, "scopes beyond the ID-JAG's are not issued (intersection, or invalid_scope)", emaSrc + " §7.2.1", MUST},
	{"IDJAG-ALG-NONE", AreaIDJAG, "an unsigned (alg none) ID-JAG is invalid_grant", emaSrc + " §7.4.1", MUST},
	{"IDJAG-HS256", AreaIDJAG, "an ID-JAG signed HS256 with the IdP's public key as the secret is invalid_grant", emaSrc + " §7.4.1 (explicit algorithm allow-list); RFC 8725 §2.1", MUST},

	// Real clients
	{"CLIENT-GOSDK", AreaClients, "the go-sdk client (v1.8.0 auth.AuthorizationCodeHandler) logs in and connects", "go-sdk client; " + mcp1125 + " §Authorization Flow Steps", MUST},
	{"CLIENT-MCPGO", AreaClients, "the mcp-go client (v1.2.1, no scopes configured) logs in and initializes", "mcp-go client; " + mcp0618 + " §2 (Authorization Flow)", SHOULD},
}

// Checks returns the catalogue of every check the suite runs, in report order.
func Checks() []Check {
	return append([]Check(nil), catalogue...)
}

// Areas returns the areas in report order.
func Areas() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range catalogue {
		if !seen[c.Area] {
			seen[c.Area] = true
			out = append(out, c.Area)
		}
	}
	return out
}
