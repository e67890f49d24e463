package provider_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// Example mounts an authorization server under /oauth with the built-in login page and
// one pre-registered public client.
func Example() {
	ctx := context.Background()
	store, err := gormstore.OpenSQLite("auth.db", gormstore.Options{
		EncryptionKeys: []gormstore.Key{{ID: "k1", Secret: []byte(os.Getenv("DB_KEY"))}}, // 32 random bytes
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	p, err := provider.New(provider.Config{
		Issuer:       "https://example.com/oauth",
		Storage:      store,
		GlobalSecret: []byte(os.Getenv("TOKEN_SECRET")), // ≥ 32 random bytes
		Scopes:       []string{"tools:read", "tools:call"},
		Resources:    []string{"https://example.com/mcp"},
		Authenticator: provider.AuthenticatorFunc(func(ctx context.Context, user, password string) (string, error) {
			return "", errors.New("plug your user database in here")
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, _, err := p.CreateClient(ctx, provider.ClientSpec{
		ID: "my-cli", Name: "My CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"},
	}); err != nil && !errors.Is(err, provider.ErrClientExists) {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux) // /oauth/authorize, /oauth/token, …, /.well-known/oauth-authorization-server/oauth
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// ExampleProvider_Approve is a login and consent page of your own (Config.LoginURL, on
// the issuer's host). Every call of the consent API gets the browser's request: a
// pending request answers only the browser that started it (ErrOtherBrowser otherwise,
// shown as an error page, never a redirect), and LoginAttempt bounds the passwords tried
// per request (Config.MaxLoginAttempts).
func ExampleProvider_Approve() {
	var p *provider.Provider // provider.New(provider.Config{…, LoginURL: "https://example.com/consent"})
	checkPassword := func(ctx context.Context, user, password string) (subject string, err error) {
		return "", errors.New("plug your user database in here")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/consent", func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue(provider.LoginRequestParam)
		req, err := p.AuthorizationRequest(r, id)
		switch {
		case errors.Is(err, provider.ErrOtherBrowser):
			http.Error(w, "This request was started in another browser: start again from the application.", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, "Unknown or expired request: start again from the application.", http.StatusBadRequest)
			return
		}
		if r.Method != http.MethodPost {
			// Render req (escape every string: they come from the client) with a form that
			// posts back here: the request ID, username, password, your CSRF token, and
			// approve and deny buttons.
			return
		}
		// Check your CSRF token here.
		if r.PostForm.Get("action") == "deny" {
			if u, err := p.Deny(r, id); err == nil {
				http.Redirect(w, r, u, http.StatusSeeOther)
			}
			return
		}
		subject, err := p.LoginAttempt(r, id, func(ctx context.Context) (string, error) {
			return checkPassword(ctx, r.PostForm.Get("username"), r.PostForm.Get("password"))
		})
		switch {
		case errors.Is(err, provider.ErrLoginFailed):
			// Show the form again: "Wrong username or password."
			return
		case errors.Is(err, provider.ErrTooManyLoginAttempts):
			http.Error(w, "Too many wrong passwords: start again from the application.", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, "Unknown or expired request: start again from the application.", http.StatusBadRequest)
			return
		}
		if u, _ := p.Approve(r, id, subject, req.Scopes); u != "" {
			http.Redirect(w, r, u, http.StatusSeeOther) // the client's redirect URI, with the code or an error
			return
		}
		http.Error(w, "This request can no longer be approved: start again from the application.", http.StatusBadRequest)
	})
	log.Fatal(http.ListenAndServe(":8080", mux))
}
