package observe

import (
	"context"
	"log/slog"
	"strings"
)

// AuditPrefix starts the message of every audit line: "audit.login_succeeded" and so on.
const AuditPrefix = "audit."

// Keys of the audit lines. Each line carries only the keys its event sets.
const (
	AuditKeyClientID  = "client_id"
	AuditKeySubject   = "subject"
	AuditKeyGrantType = "grant_type"
	AuditKeyScope     = "scope"    // space-separated, as in OAuth
	AuditKeyResource  = "resource" // space-separated RFC 8707 resources
	AuditKeyEndpoint  = "endpoint"
	AuditKeyClientIP  = "client_ip"
	AuditKeyActor     = "actor"
	AuditKeyReason    = "reason"
)

// AuditOptions turns the audit trail on (provider.Config.Audit): one Info line per
// security-relevant act, with a stable message (AuditPrefix + Kind.String()) and the
// AuditKey… keys, for shipping to a SIEM. It never logs a token, code, PKCE verifier,
// secret, password or client assertion.
type AuditOptions struct {
	// Logger receives the audit lines. Default: the provider's Config.Logger. Set it to
	// send the trail somewhere else than operational logs (a separate file or stream).
	Logger *slog.Logger
}

// Audited reports whether the audit trail writes events of kind k.
func (k Kind) Audited() bool {
	switch k {
	case TokensIssued, RefreshReuseDetected, TokenRevoked, GrantRevoked, LoginSucceeded, LoginFailed,
		ConsentApproved, ConsentDenied, ConsentRemembered, ClientRegistered, ClientUpdated, ClientDeleted,
		RateLimited, MetadataDocumentBlocked:
		return true
	}
	return false
}

// NewAuditLog returns the Observer writing the audit trail to l (nil: slog.Default()):
// every Audited event as one Info line; other events are ignored.
func NewAuditLog(l *slog.Logger) Observer {
	if l == nil {
		l = slog.Default()
	}
	return auditLog{l: l}
}

// New returns the Observer a component built with obs and audit should call: obs joined
// with the audit trail when audit is set (its Logger defaulting to logger); nil when both
// are off.
func New(obs Observer, audit *AuditOptions, logger *slog.Logger) Observer {
	if audit == nil {
		return obs
	}
	l := audit.Logger
	if l == nil {
		l = logger
	}
	return Join(NewAuditLog(l), obs)
}

type auditLog struct{ l *slog.Logger }

func (a auditLog) Observe(ctx context.Context, e Event) {
	if !e.Kind.Audited() || (e.Kind == RateLimited && e.Reason == "") || !a.l.Enabled(ctx, slog.LevelInfo) {
		return // a client's refusals after its first in a period are counted, not logged
	}
	attrs := make([]slog.Attr, 0, 8)
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add(AuditKeyClientID, e.ClientID)
	add(AuditKeySubject, e.Subject)
	add(AuditKeyGrantType, e.GrantType)
	add(AuditKeyScope, strings.Join(e.Scopes, " "))
	add(AuditKeyResource, strings.Join(e.Resources, " "))
	add(AuditKeyEndpoint, e.Endpoint)
	add(AuditKeyClientIP, e.ClientIP)
	add(AuditKeyActor, e.Actor)
	add(AuditKeyReason, e.Reason)
	a.l.LogAttrs(ctx, slog.LevelInfo, AuditPrefix+e.Kind.String(), attrs...)
}
