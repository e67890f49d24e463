// The check areas of the conformance run live one per file (challenges.go, pkce.go,
// redirects.go, resources.go, token.go, refresh.go, revocation.go, introspection.go,
// concurrency.go, registration.go, device.go, …; run.go lists them in order); this file
// holds what the flow areas share.

package conformance

import (
	"context"
	"fmt"
)

// Values that name nothing on any server.
const (
	unknownResource  = "https://conformance.invalid/mcp"
	attackerRedirect = "https://attacker.invalid/callback"
)

// flowChecks are the checks that need a client for authorization flows.
var flowChecks = []string{
	"CHAL-VALID-TOKEN", "CHAL-INVALID-TOKEN", "CHAL-INVALID-TOKEN-CODE", "CHAL-REFRESH-AS-ACCESS", "CHAL-AUDIENCE",
	"CHAL-QUERY-TOKEN", "CHAL-SESSION-NO-TOKEN", "CHAL-INSUFFICIENT-SCOPE", "REG-CIMD-ENFORCED",
	"PKCE-S256", "PKCE-WRONG-VERIFIER", "PKCE-MISSING-VERIFIER", "PKCE-PLAIN-REFUSED", "PKCE-MISSING-CHALLENGE", "PKCE-DOWNGRADE",
	"REDIR-LOOPBACK-PORT", "REDIR-LOOPBACK-HOST", "REDIR-LOCALHOST-PORT", "REDIR-EXACT", "REDIR-UNREGISTERED", "REDIR-UNKNOWN-CLIENT",
	"RES-TOKEN-REQUEST", "RES-AUDIENCE", "RES-UPPERCASE", "RES-UNKNOWN", "RES-FRAGMENT", "RES-WIDEN", "RES-RETRYABLE", "RES-NARROW",
	"RES-OMITTED-TOKEN", "RES-REFRESH-KEEPS", "RES-REFRESH-WIDEN",
	"TOKEN-NO-STORE", "TOKEN-JSON", "TOKEN-TYPE", "TOKEN-EXPIRES-IN", "TOKEN-ERRORS", "TOKEN-BASIC-401", "TOKEN-CODE-REPLAY",
	"TOKEN-CODE-REPLAY-REVOKES", "TOKEN-REDIRECT-MISMATCH", "TOKEN-CLIENT-MISMATCH",
	"REFRESH-ROTATION", "REFRESH-OLD-INVALID", "REFRESH-REUSE-REVOKES", "REFRESH-SCOPE-WIDEN", "REFRESH-SCOPE-NARROW", "AUTHZ-STATE",
	"REVOKE-REFRESH", "REVOKE-ACCESS", "REVOKE-CASCADE", "REVOKE-HINT", "REVOKE-OWNER-ONLY", "REVOKE-UNKNOWN",
	"INTRO-AUTH", "INTRO-ACTIVE", "INTRO-INACTIVE", "INTRO-SELF-REGISTERED", "CONC-CODE-ONCE", "CLIENT-GOSDK", "CLIENT-MCPGO",
}

// ready reports whether flows can run; otherwise it skips every flow check once.
func (r *runner) ready() bool {
	if r.asm != nil && r.main != nil && r.endpoints.authorize != "" && r.endpoints.token != "" {
		return true
	}
	reason := "no authorization server metadata"
	if r.asm != nil {
		reason = "no client: the server offers no dynamic client registration (or it failed) and no pre-registered client was configured"
	}
	r.skipAll(reason, flowChecks...)
	return false
}

// basicFlow runs one complete authorization code flow as MCP clients do and uses the
// token at the MCP endpoint.
func (r *runner) basicFlow(ctx context.Context) {
	if !r.ready() {
		return
	}
	ts, ev, err := r.tokens(ctx, r.main, nil, nil)
	if err != nil {
		r.violation("RES-TOKEN-REQUEST", "the authorization code flow failed: "+err.Error(), ev...)
		r.violation("CHAL-VALID-TOKEN", "no token: the authorization code flow failed", ev...)
		return
	}
	r.pass("RES-TOKEN-REQUEST", ev...)
	e := r.mcpPost(ctx, "", ts.access)
	r.check("CHAL-VALID-TOKEN", accepted(e), fmt.Sprintf("status %d for a fresh token bound to the MCP URL", e.status), e.line(), e.headerLine("WWW-Authenticate"))
}

// fresh runs a complete flow for c and returns the tokens, or records skips/violations
// for ids and returns nil.
func (r *runner) fresh(ctx context.Context, c *testClient, ids ...string) *tokenSet {
	ts, ev, err := r.tokens(ctx, c, nil, nil)
	if err != nil {
		for _, id := range ids {
			r.skip(id, "the authorization code flow failed: "+err.Error(), ev...)
		}
		return nil
	}
	return ts
}
