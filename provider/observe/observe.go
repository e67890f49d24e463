// Package observe is the one seam through which the authorization server reports what
// happens in it: tokens issued and refused, logins, consent decisions, client
// registrations, revocations, refresh token reuse, rate limiting, bearer checks,
// storage failures, purges and the fetches of client ID metadata documents and JSON Web
// Key Sets. The provider, the MCP layer and their subpackages call an Observer at those
// few points; two implementations come with the module: the audit trail (NewAuditLog,
// one slog line per security-relevant act) and Prometheus metrics (package
// provider/metrics). Join combines them.
//
// A nil Observer is off and costs a nil check: nothing is built for it, and the bearer
// path allocates nothing.
package observe

import (
	"context"
	"time"
)

// Observer receives events. Observe is called synchronously on the request's goroutine,
// often on hot paths: it must be quick, must not block, and must not keep e's slices.
// It must be safe for concurrent use.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// Func adapts a function to an Observer.
type Func func(ctx context.Context, e Event)

// Observe implements Observer.
func (f Func) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Kind says what happened. Its String is the stable event name (audit events are logged
// as "audit."+name).
type Kind uint8

// The event kinds. Those marked audit are written by the audit log; the others feed
// metrics only.
const (
	// Request: an HTTP request to an authorization server endpoint finished (Endpoint,
	// Status, ErrorCode when the answer was an OAuth error, Duration).
	Request Kind = iota + 1
	// TokensIssued (audit): the token endpoint issued tokens (GrantType, ClientID,
	// Subject, Resources, Scopes).
	TokensIssued
	// TokenRefused: a token request failed (GrantType, ErrorCode, ClientID once the
	// client authenticated; Subject only for a detected refresh token reuse).
	TokenRefused
	// RefreshReuseDetected (audit): a rotated refresh token was presented again outside
	// any grace window, and its whole grant was revoked (GrantType, ClientID, and Subject:
	// the user of the revoked grant, read from the rotated token's stored row).
	RefreshReuseDetected
	// TokenRevoked (audit): a client's RFC 7009 revocation request was accepted
	// (ClientID; Reason carries the token_type_hint).
	TokenRevoked
	// GrantRevoked (audit): a grant was revoked by its user or an operator (Actor "user"
	// or "operator", ClientID, Subject).
	GrantRevoked
	// LoginSucceeded (audit): a password check on a pending authorization request
	// succeeded (ClientID, Subject).
	LoginSucceeded
	// LoginFailed (audit): a password check failed (ClientID; Reason "wrong_password"
	// or "too_many_attempts"). Never carries what was typed.
	LoginFailed
	// ConsentApproved (audit): a pending authorization request was approved (ClientID,
	// Subject, Scopes, Resources, GrantType; Reason "auto_approve" when Config.AutoApprove
	// decided).
	ConsentApproved
	// ConsentDenied (audit): a pending authorization request was denied (ClientID,
	// GrantType, Resources; Subject when Provider.DenyBy or DenyDeviceBy named the user,
	// none through Deny and DenyDevice).
	ConsentDenied
	// ConsentRemembered (audit): consent was skipped because the user approved the same
	// client, resource and scopes before (ClientID, Subject, Scopes, Resources).
	ConsentRemembered
	// ClientRegistered (audit): a client was registered (ClientID, Reason carries the
	// source: "dynamic" for RFC 7591).
	ClientRegistered
	// ClientUpdated (audit): a client's registration was updated (RFC 7592; ClientID).
	ClientUpdated
	// ClientDeleted (audit): a client was deleted (RFC 7592; ClientID).
	ClientDeleted
	// RateLimited (audit): a request was refused by a rate limit (Endpoint, ClientIP).
	// Reason is "limit_reached" on a client's first refusal in a period and empty on
	// the following ones, which the audit trail leaves out (metrics count them all).
	RateLimited
	// BearerChecked: the bearer middleware decided on a request (Outcome: one of the
	// Bearer… outcomes; Duration of the check, not of the handler).
	BearerChecked
	// StorageError: a request ended with 503 because storage was unavailable (Endpoint).
	StorageError
	// Purged: maintenance deleted Count expired rows.
	Purged
	// MetadataDocumentFetched: a client ID metadata document was fetched (Outcome
	// "ok", "error" or "blocked"; Duration).
	MetadataDocumentFetched
	// MetadataDocumentBlocked (audit): the SSRF guard refused to connect to the address a
	// client ID metadata document URL resolved to (ClientID, the URL; Reason).
	MetadataDocumentBlocked
	// JWKSFetched: a remote JSON Web Key Set was fetched (Outcome "ok" or "error";
	// Duration).
	JWKSFetched

	kindEnd // keep last
)

// Bearer check outcomes (Event.Outcome of BearerChecked).
const (
	BearerOK                = "ok"
	BearerInvalid           = "invalid"
	BearerExpired           = "expired"
	BearerInsufficientScope = "insufficient_scope"
	BearerUnavailable       = "unavailable" // storage unavailable: 503
	BearerError             = "error"       // the verifier failed: 500
)

// Fetch outcomes (Event.Outcome of MetadataDocumentFetched and JWKSFetched).
const (
	FetchOK      = "ok"
	FetchError   = "error"
	FetchBlocked = "blocked"
)

// Actors of GrantRevoked.
const (
	ActorUser     = "user"
	ActorOperator = "operator"
)

var kindNames = [kindEnd]string{
	Request:                 "request",
	TokensIssued:            "tokens_issued",
	TokenRefused:            "token_refused",
	RefreshReuseDetected:    "refresh_reuse_detected",
	TokenRevoked:            "token_revoked",
	GrantRevoked:            "grant_revoked",
	LoginSucceeded:          "login_succeeded",
	LoginFailed:             "login_failed",
	ConsentApproved:         "consent_approved",
	ConsentDenied:           "consent_denied",
	ConsentRemembered:       "consent_remembered",
	ClientRegistered:        "client_registered",
	ClientUpdated:           "client_updated",
	ClientDeleted:           "client_deleted",
	RateLimited:             "rate_limited",
	BearerChecked:           "bearer_checked",
	StorageError:            "storage_error",
	Purged:                  "purged",
	MetadataDocumentFetched: "cimd_fetched",
	MetadataDocumentBlocked: "cimd_fetch_blocked",
	JWKSFetched:             "jwks_fetched",
}

// String returns the stable event name, e.g. "login_succeeded".
func (k Kind) String() string {
	if k == 0 || k >= kindEnd {
		return "unknown"
	}
	return kindNames[k]
}

// Kinds returns every event kind, in declaration order.
func Kinds() []Kind {
	out := make([]Kind, 0, kindEnd-1)
	for k := Request; k < kindEnd; k++ {
		out = append(out, k)
	}
	return out
}

// Event is one observation. Which fields are set depends on Kind (see the kinds). It
// never carries a token, code, verifier, secret, password or assertion.
type Event struct {
	// Kind says what happened, and so which other fields are set.
	Kind Kind
	// Endpoint is the route name (the Endpoint… constants), never a request path.
	Endpoint string
	// Status is the HTTP status of a Request.
	Status int
	// ErrorCode is the OAuth error code of a Request or TokenRefused.
	ErrorCode string
	// Outcome is the result of a BearerChecked or fetch event.
	Outcome string
	// GrantType is the grant_type of a token request, or of the flow being consented to.
	GrantType string
	// ClientID is the OAuth client concerned.
	ClientID string
	// Subject is the user concerned.
	Subject string
	// Scopes are the scopes granted or consented to.
	Scopes []string
	// Resources are the RFC 8707 resources (audience) concerned.
	Resources []string
	// Actor says who revoked a grant (ActorUser, ActorOperator).
	Actor string
	// ClientIP is the address a rate limit was keyed on.
	ClientIP string
	// Reason qualifies the event (see the kinds); a fixed word, never user input.
	Reason string
	// Count is how many rows a Purged event deleted.
	Count int64
	// Duration is how long the request, check or fetch took.
	Duration time.Duration
}

// Route names: the Endpoint of events. Labels in metrics use these, never a path.
const (
	EndpointAuthorize           = "authorize"
	EndpointToken               = "token"
	EndpointRevocation          = "revocation"
	EndpointIntrospection       = "introspection"
	EndpointLogin               = "login"
	EndpointDeviceAuthorization = "device_authorization"
	EndpointDevice              = "device"
	EndpointMetadata            = "metadata"
	EndpointRegistration        = "registration"
	EndpointResourceMetadata    = "resource_metadata"
	EndpointJWKS                = "jwks"
	EndpointMCP                 = "mcp"
	EndpointUserCode            = "user_code"
)

// Join returns an Observer calling each non-nil observer in turn; nil when there is
// none, so that callers keep the nil check that makes observation free when off.
func Join(observers ...Observer) Observer {
	var list multi
	for _, o := range observers {
		switch o := o.(type) {
		case nil:
		case multi:
			list = append(list, o...)
		default:
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type multi []Observer

func (m multi) Observe(ctx context.Context, e Event) {
	for _, o := range m {
		o.Observe(ctx, e)
	}
}
