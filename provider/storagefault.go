package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
)

// ReadinessTimeout bounds Ready: a load balancer's probe must learn quickly that this
// replica cannot serve, rather than hang with it.
const ReadinessTimeout = time.Second

// errStorageDown is the RFC 6749 answer to a storage failure (RFC 6749 §4.1.2.1 and §5.2
// name temporarily_unavailable); writeJSONError and errorPage add Retry-After.
var errStorageDown = &fosite.RFC6749Error{
	ErrorField:       fosite.ErrTemporarilyUnavailable.ErrorField,
	DescriptionField: "The authorization server cannot reach its storage at the moment. Retry later.",
	CodeField:        http.StatusServiceUnavailable,
}

// Pinger is implemented by storages that can tell whether they can serve (storage/gorm
// does: a ping and a trivial query). Ready uses it.
type Pinger interface {
	// Ping returns nil when the storage answers queries; an error wrapping
	// ErrStorageUnavailable when it does not.
	Ping(ctx context.Context) error
}

// Ready reports whether the provider can serve requests: nil when its Storage answers
// within ReadinessTimeout (through Pinger; a Storage without it is assumed ready). Use it
// for readiness probes (mcp.Server.ReadinessHandler serves it over HTTP).
func (p *Provider) Ready(ctx context.Context) error {
	pinger, ok := p.store.(Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ReadinessTimeout)
	defer cancel()
	return pinger.Ping(ctx)
}

// storageFaults records, for one request, whether a storage call failed with
// ErrStorageUnavailable. fosite turns some storage errors into credential errors (a
// failed GetClient becomes invalid_client, and the cause does not always survive the
// handlers); the record lets the endpoint answer 503 anyway. Every endpoint that lets
// fosite touch storage starts with watchStorage and checks storageFailed before writing
// an error — a new one too (the device authorization endpoint of RFC 8628 is not built
// yet).
type storageFaults struct{ seen atomic.Bool }

type storageFaultsKey struct{}

// withStorageFaults returns ctx with a record of storage failures (see noteStorage); ctx
// itself when it already has one.
func withStorageFaults(ctx context.Context) context.Context {
	if _, ok := ctx.Value(storageFaultsKey{}).(*storageFaults); ok {
		return ctx
	}
	return context.WithValue(ctx, storageFaultsKey{}, &storageFaults{})
}

// watchStorage returns r with a context in which storage failures are recorded.
func watchStorage(r *http.Request) *http.Request {
	if ctx := withStorageFaults(r.Context()); ctx != r.Context() {
		return r.WithContext(ctx)
	}
	return r
}

// asStorageFailure returns err wrapping ErrStorageUnavailable when it, or a storage call
// made with ctx, was a storage failure; else err. It serves the consent API (Approve,
// Deny), whose callers answer their own pages.
func asStorageFailure(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrStorageUnavailable) || !storageFailed(ctx, err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorageUnavailable, err)
}

// noteStorage records err in ctx's record when it is a storage failure, and returns err.
func noteStorage(ctx context.Context, err error) error {
	if err != nil && errors.Is(err, ErrStorageUnavailable) {
		if f, ok := ctx.Value(storageFaultsKey{}).(*storageFaults); ok {
			f.seen.Store(true)
		}
	}
	return err
}

// storageFailed reports whether err, or a storage call made with ctx, was a storage
// failure (ErrStorageUnavailable).
func storageFailed(ctx context.Context, err error) bool {
	if err != nil && errors.Is(err, ErrStorageUnavailable) {
		return true
	}
	f, ok := ctx.Value(storageFaultsKey{}).(*storageFaults)
	return ok && f.seen.Load()
}

// storageDown logs a storage failure that ends a request (what failed, without request
// details) and returns the 503 temporarily_unavailable error to answer it with.
func (p *Provider) storageDown(ctx context.Context, where string, err error) error {
	cause := "(recorded during the request)"
	if err != nil {
		if cause = fosite.ErrorToRFC6749Error(err).DebugField; cause == "" {
			cause = err.Error()
		}
	}
	p.log.WarnContext(ctx, where+": storage unavailable", "error", cause)
	p.observeStorage(ctx, where)
	return errStorageDown
}

// The fositeStore methods below pass every call fosite makes through noteStorage (GetClient,
// GetRefreshTokenSession and RotateRefreshToken do so where they are defined).

// ClientAssertionJWTValid implements fosite.ClientManager.
func (s fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	return noteStorage(ctx, s.Storage.ClientAssertionJWTValid(ctx, jti))
}

// SetClientAssertionJWT implements fosite.ClientManager.
func (s fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	return noteStorage(ctx, s.Storage.SetClientAssertionJWT(ctx, jti, exp))
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage; in an approval that
// collects its writes (collector) the code is stored with them.
func (s fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	if collected, err := issueCodeSession(ctx, code, req); collected {
		return err
	}
	return noteStorage(ctx, s.Storage.CreateAuthorizeCodeSession(ctx, code, req))
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. In a code exchange
// (withCodeExchange) the code handler reads the code twice: when it checks the request,
// and again when it issues the tokens, inside the token transaction (a statement in
// SQLite's writer turn, a round trip on PostgreSQL). The second read is served from the
// first, moments ago, into the same session: that the code is used once rests on
// InvalidateAuthorizeCodeSession's conditional write in the same transaction, not on the
// read.
func (s fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	d, _ := ctx.Value(codeExchangeKey{}).(*codeExchange)
	if d != nil && d.code != nil && d.codeSignature == code && sameSession(d.code.GetSession(), session) {
		return d.code, nil
	}
	req, err := s.Storage.GetAuthorizeCodeSession(ctx, code, session)
	if d != nil && err == nil {
		d.code, d.codeSignature = req, code // for GetPKCERequestSession and the second read
	}
	return req, noteStorage(ctx, err)
}

// sameSession reports whether a and b are the same *Session (the provider's sessions are;
// comparing other session types, which need not be comparable, is not attempted).
func sameSession(a, b fosite.Session) bool {
	pa, ok := a.(*Session)
	pb, ok2 := b.(*Session)
	return ok && ok2 && pa == pb
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage; in a token
// response that collects its writes (collector) the code is consumed with them.
func (s fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	if collected, err := consume(ctx, code, nil); collected {
		return err
	}
	return noteStorage(ctx, s.Storage.InvalidateAuthorizeCodeSession(ctx, code))
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage; in a token response
// that collects its writes (collector) the token is stored with them.
func (s fositeStore) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	if collected, err := issueAccess(ctx, signature, req); collected {
		return err
	}
	return noteStorage(ctx, s.Storage.CreateAccessTokenSession(ctx, signature, req))
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (s fositeStore) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.Storage.GetAccessTokenSession(ctx, signature, session)
	return req, noteStorage(ctx, err)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s fositeStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	if collecting(ctx) != nil {
		return errUncollected // see collector
	}
	return noteStorage(ctx, s.Storage.DeleteAccessTokenSession(ctx, signature))
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s fositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	if collecting(ctx) != nil {
		return errUncollected // see collector
	}
	return noteStorage(ctx, s.Storage.DeleteRefreshTokenSession(ctx, signature))
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage.
func (s fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if collecting(ctx) != nil {
		return errUncollected // see collector
	}
	return noteStorage(ctx, s.Storage.RevokeRefreshToken(ctx, requestID))
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (s fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	if collecting(ctx) != nil {
		return errUncollected // see collector
	}
	return noteStorage(ctx, s.Storage.RevokeAccessToken(ctx, requestID))
}

// GetPKCERequestSession implements pkce.PKCERequestStorage from the authorization code's
// own row, which carries code_challenge and code_challenge_method (see
// CreatePKCERequestSession), under the same signature; a code stored without them (by a
// version before this one, or by a flow that wrote a PKCE row) is looked up in the PKCE
// storage as before. An invalidated or unknown code falls back too, and is not found there.
// In a code exchange the code handler's read of the row serves (codeExchange).
func (s fositeStore) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	d, _ := ctx.Value(codeExchangeKey{}).(*codeExchange)
	var req fosite.Requester
	var err error
	if d != nil && d.code != nil && d.codeSignature == signature {
		req = d.code // the code handler's read of the same row, moments ago
	} else {
		req, err = s.Storage.GetAuthorizeCodeSession(ctx, signature, session)
	}
	if err == nil && req.GetRequestForm().Get("code_challenge") != "" {
		if d != nil {
			d.fromCode = true
		}
		return req, nil
	}
	if errors.Is(err, ErrStorageUnavailable) {
		return nil, noteStorage(ctx, err)
	}
	req, err = s.Storage.GetPKCERequestSession(ctx, signature, session)
	return req, noteStorage(ctx, err)
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage. fosite's PKCE handler
// calls it right after the explicit code handler stored the code, in the same
// transaction, with the same request and signature; since the code's row keeps the PKCE
// parameters (the sanitation allow-list of fositeConfig), a second row with the same
// content would only cost a write of its table and four indexes per authorization and a
// delete of them per code exchange (issue 9). A request without a code_challenge is
// stored in the PKCE storage as before (in an approval that collects its writes, with
// them).
func (s fositeStore) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	if req.GetRequestForm().Get("code_challenge") != "" {
		return nil
	}
	if collected, err := issuePKCESession(ctx, signature, req); collected {
		return err
	}
	return noteStorage(ctx, s.Storage.CreatePKCERequestSession(ctx, signature, req))
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage. In a code exchange
// (withCodeExchange) it only notes signature: a PKCE row of its own (a code stored by a
// version that wrote one) is then deleted in the transaction that issues the tokens
// (issueAndRecordUse), and an exchange that fails after this point burns the code
// (Token, burnCode).
func (s fositeStore) DeletePKCERequestSession(ctx context.Context, signature string) error {
	if d, ok := ctx.Value(codeExchangeKey{}).(*codeExchange); ok {
		d.signature = signature
		return nil
	}
	return noteStorage(ctx, s.Storage.DeletePKCERequestSession(ctx, signature))
}

// BeginTX implements storage.Transactional; Commit and Rollback end the transaction. In
// a response that collects its writes (collector) the three do nothing: the writes
// are made at once, atomically, after fosite's handler.
func (s fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	if collecting(ctx) != nil {
		return ctx, nil
	}
	txCtx, err := s.Storage.BeginTX(ctx)
	return txCtx, noteStorage(ctx, err)
}

// Commit implements storage.Transactional (see BeginTX).
func (s fositeStore) Commit(ctx context.Context) error {
	if collecting(ctx) != nil {
		return nil
	}
	return noteStorage(ctx, s.Storage.Commit(ctx))
}

// Rollback implements storage.Transactional (see BeginTX).
func (s fositeStore) Rollback(ctx context.Context) error {
	if collecting(ctx) != nil {
		return nil
	}
	return noteStorage(ctx, s.Storage.Rollback(ctx))
}
