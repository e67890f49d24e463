package provider

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ory/fosite"
)

// writeTransactional is implemented by storages that can group writes in one transaction
// that reads only rows it locks (storage/gorm's BeginWriteTX: READ COMMITTED on
// PostgreSQL, BEGIN IMMEDIATE on SQLite). The authorization endpoint of a storage without
// CodeIssueStorage stores the code, the PKCE request and the grant in one: one commit
// instead of three, and no code is stored without its grant. Commit and Rollback (fosite's
// storage.Transactional) end it.
type writeTransactional interface {
	BeginWriteTX(ctx context.Context) (context.Context, error)
}

// inWriteTx runs fn in one write transaction when the storage has them (committed when fn
// returns nil, rolled back otherwise), else fn with ctx as it is (each write commits on
// its own).
func (p *Provider) inWriteTx(ctx context.Context, fn func(ctx context.Context) error) error {
	wt, ok := p.store.(writeTransactional)
	if !ok {
		return fn(ctx)
	}
	return p.inTx(ctx, wt.BeginWriteTX, fn)
}

// inTx runs fn in the transaction begin starts: committed when fn returns nil, rolled
// back otherwise. A storage failure to begin or commit is noted (watchStorage).
func (p *Provider) inTx(ctx context.Context, begin func(context.Context) (context.Context, error), fn func(ctx context.Context) error) error {
	txCtx, err := begin(ctx)
	if err != nil {
		return noteStorage(ctx, err)
	}
	if err := fn(txCtx); err != nil {
		if rerr := p.store.Rollback(txCtx); rerr != nil {
			p.log.WarnContext(ctx, "rollback failed", slog.String("error", rerr.Error()))
		}
		return err
	}
	return noteStorage(ctx, p.store.Commit(txCtx))
}

type codeExchangeKey struct{}

// codeExchange is what one code exchange's fosite handlers leave for the provider. The
// code handler's read of the code (code, codeSignature) serves the PKCE handler's read of
// the challenge, which the code's row keeps (fromCode): one read per exchange. fosite's
// PKCE handler deletes the PKCE request before verifying code_verifier, in a write of its
// own, so that a wrong verifier burns the code (RFC 7636 §4.6); the provider defers that
// delete (signature): a separate PKCE row is deleted in the transaction that issues the
// tokens, and an exchange that fails past fosite's delete burns the code (burnCode).
type codeExchange struct {
	code          fosite.Requester // the code's stored request, as the code handler read it
	codeSignature string           // the signature code was read under
	signature     string           // empty: fosite's PKCE handler did not reach its delete
	fromCode      bool             // the challenge came from the code's row, not a PKCE row
}

// withCodeExchange returns ctx for a code exchange, whose handlers' traces d collects.
func withCodeExchange(ctx context.Context) (context.Context, *codeExchange) {
	d := &codeExchange{}
	return context.WithValue(ctx, codeExchangeKey{}, d), d
}

// deletePKCE deletes the separate PKCE row d names, if any, with ctx (in its transaction
// when it carries one). A challenge kept in the code's row needs no delete: the code's
// invalidation ends both.
func (p *Provider) deletePKCE(ctx context.Context, d *codeExchange) error {
	if d == nil || d.signature == "" || d.fromCode {
		return nil
	}
	return noteStorage(ctx, p.store.DeletePKCERequestSession(ctx, d.signature))
}

// burnCode ends the code of an exchange that failed after fosite's PKCE handler reached
// its delete (a wrong code_verifier): its PKCE row goes, or, where the code's row keeps
// the challenge, the code is invalidated, so that the right verifier cannot follow a
// wrong one.
func (p *Provider) burnCode(ctx context.Context, d *codeExchange) error {
	if d == nil || d.signature == "" {
		return nil
	}
	if !d.fromCode {
		return p.deletePKCE(ctx, d)
	}
	err := p.store.InvalidateAuthorizeCodeSession(ctx, d.signature)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || errors.Is(err, fosite.ErrNotFound) {
		return nil // already spent, or gone
	}
	return noteStorage(ctx, err)
}

// TokenIssue is what one token response of the code or refresh token grant writes,
// collected from fosite's handler (issueAndRecordUse) so that a TokenIssueStorage writes
// it in one call: the code consumed or the refresh token rotated, the tokens issued, and
// the grant's use.
type TokenIssue struct {
	// Code is the signature of the authorization code a code exchange consumes
	// (InvalidateAuthorizeCodeSession); empty for a refresh.
	Code string
	// PKCE is the signature of a code's separate PKCE request, deleted with it (a code
	// stored by a version that wrote one); usually empty.
	PKCE string
	// Rotation is the refresh token a refresh rotates; nil for a code exchange.
	Rotation *Rotation
	// AccessSignature and AccessRequest are the access token issued
	// (CreateAccessTokenSession).
	AccessSignature string
	AccessRequest   fosite.Requester
	// RefreshSignature and RefreshRequest are the refresh token issued with it
	// (CreateRefreshTokenSession); empty when none is.
	RefreshSignature string
	RefreshRequest   fosite.Requester
	// GrantUse, when not nil, records the grant's use (GrantStore.TouchGrant). It is
	// written with the tokens: a storage failure writing it fails the response (503), where
	// a separate TouchGrant's is only logged.
	GrantUse *GrantUse
	// ClientUse, when not nil, records the client's use (ClientUsageRecorder.TouchClient),
	// like GrantUse; the provider asks at most about once a minute per client.
	ClientUse *ClientUse
}

// ClientUse is a token response's use of its client (ClientUsageRecorder.TouchClient's
// arguments).
type ClientUse struct {
	// ClientID is the client that obtained the tokens.
	ClientID string
	// At is when it obtained them.
	At time.Time
}

// Rotation names the refresh token a refresh rotates (RotateRefreshToken), and the grace
// window it rotates under (RotateRefreshTokenWithGrace); a zero Grace is strict rotation.
type Rotation struct {
	// RequestID is the grant's request ID (fosite's Requester ID).
	RequestID string
	// Signature is the presented refresh token's signature.
	Signature string
	// Grace is the grace window (Config.RefreshTokenGrace); zero for strict rotation.
	Grace RefreshTokenGrace
}

// GrantUse is a grant's use by a token response (GrantStore.TouchGrant's arguments).
type GrantUse struct {
	// RequestID is the request ID the grant was recorded with.
	RequestID string
	// At is when it was used.
	At time.Time
	// ExpiresAt is the expiry of the tokens issued; zero when they never expire.
	ExpiresAt time.Time
}

// TokenIssueStorage is implemented by storages that write a token response at once
// (storage/gorm: one statement on PostgreSQL, one round trip instead of five). The
// provider then collects the writes fosite's code and refresh token handlers make in
// their transaction, and the grant's use, and calls IssueTokens instead.
type TokenIssueStorage interface {
	// IssueTokens writes iss atomically, with the outcomes of the methods it stands for:
	// a code already used is fosite.ErrInvalidatedAuthorizeCode, a refresh token rotated
	// by a concurrent request fosite.ErrSerializationFailure, one whose grace window's
	// reuses are used up an error wrapping ErrRefreshTokenReuseLimit, an unknown one
	// fosite.ErrNotFound, and then nothing is written.
	IssueTokens(ctx context.Context, iss TokenIssue) error
}

// CodeIssue is what one approval writes at the authorization endpoint, collected from
// fosite's authorize handlers (issueCode) so that a CodeIssueStorage writes it in one call:
// the code, a PKCE request of its own when there is one, and the grant.
type CodeIssue struct {
	// Signature and Request are the code issued (CreateAuthorizeCodeSession).
	Signature string
	Request   fosite.Requester
	// PKCESignature and PKCERequest are a PKCE request stored apart from the code
	// (CreatePKCERequestSession); empty when the code's row keeps the challenge, as it
	// does for every request that has one.
	PKCESignature string
	PKCERequest   fosite.Requester
	// Grant, when not nil, is the approval recorded with the code (GrantStore.RecordGrant).
	Grant *GrantRecord
}

// CodeIssueStorage is implemented by storages that write an approval at once
// (storage/gorm: one statement on PostgreSQL, one round trip instead of five). The
// provider then collects the writes fosite's authorize handlers make, and the grant, and
// calls IssueCode instead of running them in a write transaction.
type CodeIssueStorage interface {
	// IssueCode writes iss atomically: all of it or, with an error, nothing.
	IssueCode(ctx context.Context, iss CodeIssue) error
}

type collectorKey struct{}

// collector collects a response's writes while fosite's handlers run, so that the storage
// writes them at once (a token response's with IssueTokens, an approval's with IssueCode);
// the handlers' BeginTX, Commit and Rollback do nothing meanwhile. fosite's code and
// refresh token handlers (v0.49.0) write nothing else in PopulateTokenEndpointResponse,
// nor its code and PKCE handlers in HandleAuthorizeEndpointRequest; a write the collector
// cannot take (one of the other kind of response, a second one of a kind, a deletion or a
// revocation) fails the response with errUncollected rather than run outside its atomic
// write.
type collector struct {
	token      *TokenIssue // a token response's writes; nil in an approval
	code       *CodeIssue  // an approval's writes; nil in a token response
	collecting bool
}

// collecting returns the collector ctx's response collects writes with, or nil.
func collecting(ctx context.Context) *collector {
	c, _ := ctx.Value(collectorKey{}).(*collector)
	if c == nil || !c.collecting {
		return nil
	}
	return c
}

// collect returns ctx with c collecting the writes made with it.
func collect(ctx context.Context, c *collector) context.Context {
	c.collecting = true
	return context.WithValue(ctx, collectorKey{}, c)
}

// errUncollected is what a write gets that a collecting response cannot take (see
// collector).
var errUncollected = fosite.ErrServerError.WithDebug("a handler wrote what its response cannot collect")

// consume records the code or refresh token ctx's token response consumes: false when
// ctx collects nothing (the caller writes it), else the error of a write it cannot take.
func consume(ctx context.Context, code string, rot *Rotation) (bool, error) {
	c := collecting(ctx)
	switch {
	case c == nil:
		return false, nil
	case c.token == nil || c.token.Code != "" || c.token.Rotation != nil:
		return true, errUncollected
	}
	c.token.Code, c.token.Rotation = code, rot
	return true, nil
}

// issueAccess records the access token ctx's token response issues, as consume does.
func issueAccess(ctx context.Context, signature string, req fosite.Requester) (bool, error) {
	c := collecting(ctx)
	switch {
	case c == nil:
		return false, nil
	case c.token == nil || c.token.AccessSignature != "":
		return true, errUncollected
	}
	c.token.AccessSignature, c.token.AccessRequest = signature, req
	return true, nil
}

// issueRefresh records the refresh token ctx's token response issues with its access
// token (accessSignature), as consume does.
func issueRefresh(ctx context.Context, signature, accessSignature string, req fosite.Requester) (bool, error) {
	c := collecting(ctx)
	switch {
	case c == nil:
		return false, nil
	case c.token == nil || c.token.RefreshSignature != "" || c.token.AccessSignature != accessSignature:
		return true, errUncollected
	}
	c.token.RefreshSignature, c.token.RefreshRequest = signature, req
	return true, nil
}

// issueCodeSession records the code ctx's approval issues, as consume does.
func issueCodeSession(ctx context.Context, signature string, req fosite.Requester) (bool, error) {
	c := collecting(ctx)
	switch {
	case c == nil:
		return false, nil
	case c.code == nil || c.code.Signature != "":
		return true, errUncollected
	}
	c.code.Signature, c.code.Request = signature, req
	return true, nil
}

// issuePKCESession records the PKCE request ctx's approval stores apart from its code, as
// consume does.
func issuePKCESession(ctx context.Context, signature string, req fosite.Requester) (bool, error) {
	c := collecting(ctx)
	switch {
	case c == nil:
		return false, nil
	case c.code == nil || c.code.PKCESignature != "":
		return true, errUncollected
	}
	c.code.PKCESignature, c.code.PKCERequest = signature, req
	return true, nil
}

// issuesAtOnce reports whether the token responses of grantType are written in one
// IssueTokens call (issueAndRecordUse), which also records the client's use.
func (p *Provider) issuesAtOnce(grantType string) bool {
	_, ok := p.store.(TokenIssueStorage)
	return ok && (grantType == "authorization_code" || grantType == "refresh_token")
}

// issueAndRecordUse runs populate, fosite's PopulateTokenEndpointResponse of a code
// exchange or refresh token rotation, and records the grant's use (grantUse) with the
// tokens. With a TokenIssueStorage the handler's writes are collected (collector) and
// written in one IssueTokens call, with the client's use (clientUse); otherwise they run
// in the one transaction fosite's handler would have begun itself (storage.Transactional's
// BeginTX, which fosite's nested BeginTX joins): one commit per token request instead of
// two. A code exchange's PKCE request is deleted with them (codeExchange).
func (p *Provider) issueAndRecordUse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder, populate func(ctx context.Context) error) error {
	d, _ := ctx.Value(codeExchangeKey{}).(*codeExchange)
	is, ok := p.store.(TokenIssueStorage)
	if !ok {
		return p.inTx(ctx, p.store.BeginTX, func(ctx context.Context) error {
			if err := populate(ctx); err != nil {
				return err
			}
			if err := p.deletePKCE(ctx, d); err != nil {
				return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
			}
			p.recordGrantUse(ctx, r, resp)
			return nil
		})
	}
	c := &collector{token: &TokenIssue{}}
	err := populate(collect(ctx, c))
	c.collecting = false
	if err != nil {
		return err
	}
	iss := *c.token
	if iss.AccessSignature == "" || (iss.Code == "" && iss.Rotation == nil) {
		return fosite.ErrServerError.WithDebug("the grant handler issued no token")
	}
	if d != nil && d.signature != "" && !d.fromCode {
		iss.PKCE = d.signature
	}
	iss.GrantUse = p.grantUse(r, resp)
	iss.ClientUse = p.clientUse(r.GetClient())
	err = noteStorage(ctx, is.IssueTokens(ctx, iss))
	switch {
	case err == nil:
		return nil
	case iss.Rotation == nil:
		// As fosite's code handler answers a failed write.
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	case errors.Is(err, fosite.ErrSerializationFailure):
		// As fosite's refresh handler answers a failed write (handleRefreshTokenEndpointStorageError).
		return fosite.ErrInvalidRequest.WithWrap(err).WithDebug(err.Error()).
			WithHint("Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request.")
	case errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInactiveToken):
		return fosite.ErrInvalidRequest.WithWrap(err).WithDebug(err.Error()).WithHint("Failed to refresh token. Please retry the request.")
	default:
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
}
