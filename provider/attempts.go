package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ory/fosite"
)

// ErrTooManyLoginAttempts is returned by LoginAttempt when Config.MaxLoginAttempts
// passwords were wrong for the pending request: the request is cancelled and the user
// must start again from the application. Show an error page; do not redirect.
var ErrTooManyLoginAttempts = errors.New("provider: too many wrong passwords for this authorization request")

// ErrLoginFailed wraps the error of a failed password check in LoginAttempt while
// attempts remain: show the login form again.
var ErrLoginFailed = errors.New("provider: login failed")

// LoginAttempt runs check — a login page's password check, returning the subject — as
// one attempt on the pending authorization request id. The built-in login page uses it;
// pages of your own (Config.LoginURL) should too. The attempt is counted in storage
// before check runs, with a conditional write, so that however many requests arrive at
// once, on however many replicas, check runs at most Config.MaxLoginAttempts times per
// pending request; when the last allowed attempt fails, the request is cancelled. r must
// come from the browser bound to the request, as for AuthorizationRequest.
//
// It returns the subject on success; an error wrapping ErrLoginFailed (and check's
// error) when check failed and attempts remain; ErrTooManyLoginAttempts when none
// remain; ErrOtherBrowser or ErrAuthorizationRequestNotFound as AuthorizationRequest
// does; any other error is a storage failure.
func (p *Provider) LoginAttempt(r *http.Request, id string, check func(ctx context.Context) (subject string, err error)) (string, error) {
	pending, _, err := p.boundPending(r, id)
	if err != nil {
		return "", err
	}
	subject, err := p.loginAttempt(r.Context(), id, check)
	p.observeLogin(r.Context(), pending.ClientID, subject, err)
	return subject, err
}

// loginAttempt is LoginAttempt once the request is known to come from its browser.
func (p *Provider) loginAttempt(ctx context.Context, id string, check func(ctx context.Context) (subject string, err error)) (string, error) {
	attempt, limit := 0, p.cfg.MaxLoginAttempts
	if limit > 0 {
		var err error
		if attempt, err = p.store.CountLoginAttempt(ctx, id, limit); err != nil {
			if !errors.Is(err, fosite.ErrNotFound) {
				return "", err
			}
			// No attempt left, or the request was answered or cancelled meanwhile.
			if _, gerr := p.store.GetPendingAuthorization(ctx, id); gerr != nil {
				return "", pendingError(gerr)
			}
			return "", ErrTooManyLoginAttempts
		}
	}
	subject, err := check(ctx)
	if err == nil && subject == "" {
		err = errors.New("no subject")
	}
	if err == nil {
		return subject, nil
	}
	if limit > 0 && attempt >= limit {
		// The last attempt failed: cancel the request, so that nobody can approve it.
		if _, cerr := p.store.ConsumePendingAuthorization(ctx, id); cerr != nil && !errors.Is(cerr, fosite.ErrNotFound) {
			return "", cerr
		}
		p.log.InfoContext(ctx, "pending authorization cancelled after too many wrong passwords", "attempts", attempt)
		return "", ErrTooManyLoginAttempts
	}
	return "", fmt.Errorf("%w (attempt %d): %w", ErrLoginFailed, attempt, err)
}
