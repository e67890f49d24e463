package teststack

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// ClientID returns the ID of the public client whose tokens are issued to subject.
func (st *Stack) ClientID(subject string) string { return clientPrefix + subject }

func (st *Stack) client(subject string) (string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.ClientID(subject)
	if st.clients[id] {
		return id, nil
	}
	_, _, err := st.Provider.CreateClient(context.Background(), provider.ClientSpec{
		ID: id, Name: "test app for " + subject, Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"},
	})
	if err != nil && !errors.Is(err, provider.ErrClientExists) {
		return "", err
	}
	st.clients[id] = true
	return id, nil
}

// Tokens is a token endpoint response.
type Tokens struct {
	// AccessToken is the issued access token.
	AccessToken string `json:"access_token"`
	// RefreshToken is the issued refresh token, empty when none was issued.
	RefreshToken string `json:"refresh_token"`
	// Scope is the granted scope, space-separated.
	Scope string `json:"scope"`
}

// Code runs an approved authorization request with PKCE for subject and returns the
// authorization code and its verifier. An empty resource sends no resource parameter.
func (st *Stack) Code(subject, scope, resource string) (code, verifier string, err error) {
	clientID, err := st.client(subject)
	if err != nil {
		return "", "", err
	}
	return st.code(clientID, "http://127.0.0.1:53682/callback", scope, resource)
}

func (st *Stack) code(clientID, redirect, scope, resource string) (code, verifier string, err error) {
	verifier = oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"scope": {scope}, "state": {"state-123456"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	resp, err := st.http.Get(st.Issuer + provider.AuthorizePath + "?" + q.Encode())
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return "", "", fmt.Errorf("teststack: authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code"), verifier, nil
}

// Tokens runs the authorization code flow for subject and returns the tokens.
func (st *Stack) Tokens(subject, scope, resource string) (Tokens, error) {
	clientID, err := st.client(subject)
	if err != nil {
		return Tokens{}, err
	}
	return st.TokensFor(Client{ID: clientID, RedirectURI: "http://127.0.0.1:53682/callback"}, scope, resource)
}

// Client is a client as TokensFor uses it.
type Client struct {
	// ID is the client_id.
	ID string
	// Secret and AuthMethod authenticate a confidential client (client_secret_basic,
	// client_secret_post or private_key_jwt); empty for public clients.
	Secret, AuthMethod string
	// Assertion is the client assertion of a private_key_jwt client (see
	// ClientAssertion); a Secret beside it is sent too (a request using two methods).
	Assertion string
	// RedirectURI is sent as redirect_uri.
	RedirectURI string
}

// TokensFor runs the authorization code flow for client c (the subject is c.ID, approved
// automatically) and returns the tokens.
func (st *Stack) TokensFor(c Client, scope, resource string) (Tokens, error) {
	code, verifier, err := st.code(c.ID, c.RedirectURI, scope, resource)
	if err != nil {
		return Tokens{}, err
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {c.RedirectURI},
	}
	var user, pass string
	switch c.AuthMethod {
	case provider.AuthMethodClientSecretBasic:
		user, pass = url.QueryEscape(c.ID), url.QueryEscape(c.Secret)
	case provider.AuthMethodClientSecretPost:
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case provider.AuthMethodPrivateKeyJWT:
		form.Set("client_id", c.ID)
		form.Set("client_assertion_type", provider.ClientAssertionType)
		form.Set("client_assertion", c.Assertion)
		if c.Secret != "" {
			form.Set("client_secret", c.Secret)
		}
	default:
		form.Set("client_id", c.ID)
	}
	return st.postAuth(provider.TokenPath, form, user, pass)
}

// ClientAssertion returns a private_key_jwt client assertion (RFC 7523 §2.2) for
// clientID: iss = sub = clientID, aud, a fresh jti, valid for two minutes, signed with
// key under kid and alg.
func ClientAssertion(key any, alg jose.SignatureAlgorithm, kid, clientID, aud string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}).CompactSerialize()
}

// Revoke revokes a token of subject's client (RFC 7009).
func (st *Stack) Revoke(subject, token string) error {
	_, err := st.post(provider.RevocationPath, url.Values{"token": {token}, "client_id": {st.ClientID(subject)}})
	return err
}

func (st *Stack) post(path string, form url.Values) (Tokens, error) {
	return st.postAuth(path, form, "", "")
}

func (st *Stack) postAuth(path string, form url.Values, user, pass string) (Tokens, error) {
	req, err := http.NewRequest(http.MethodPost, st.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := st.http.Do(req)
	if err != nil {
		return Tokens{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Tokens{}, fmt.Errorf("teststack: %s: %d %s", path, resp.StatusCode, body)
	}
	var tok Tokens
	if len(body) > 0 {
		if err := json.Unmarshal(body, &tok); err != nil {
			return Tokens{}, err
		}
	}
	return tok, nil
}
