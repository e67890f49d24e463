package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// storedLogin is what the client keeps per MCP server: its registration (dynamic
// client registration gives a new client per login) and its tokens.
type storedLogin struct {
	ClientID     string           `json:"client_id"`
	ClientSecret string           `json:"client_secret,omitempty"`
	TokenURL     string           `json:"token_url"`
	AuthStyle    oauth2.AuthStyle `json:"auth_style"`
	AccessToken  string           `json:"access_token"`
	TokenType    string           `json:"token_type,omitempty"`
	RefreshToken string           `json:"refresh_token,omitempty"`
	Expiry       time.Time        `json:"expiry"`
	Scope        string           `json:"scope,omitempty"`
}

func newStoredLogin(c *oauth2.Config, tok *oauth2.Token, previousScope string) storedLogin {
	rec := storedLogin{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		TokenURL:     c.Endpoint.TokenURL,
		AuthStyle:    c.Endpoint.AuthStyle,
		Scope:        previousScope,
	}
	rec.setToken(tok)
	return rec
}

// setToken records tok; the scope is kept when the token response did not repeat it
// (RFC 6749 §5.1: then it is the scope granted before).
func (r *storedLogin) setToken(tok *oauth2.Token) {
	r.AccessToken = tok.AccessToken
	r.TokenType = tok.TokenType
	if tok.RefreshToken != "" {
		r.RefreshToken = tok.RefreshToken
	}
	r.Expiry = tok.Expiry
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		r.Scope = s
	}
}

func (r storedLogin) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     r.ClientID,
		ClientSecret: r.ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: r.TokenURL, AuthStyle: r.AuthStyle},
	}
}

func (r storedLogin) token() *oauth2.Token {
	return &oauth2.Token{AccessToken: r.AccessToken, TokenType: r.TokenType, RefreshToken: r.RefreshToken, Expiry: r.Expiry}
}

// tokenFile is the file's content: logins by MCP server URL.
type tokenFile struct {
	Servers map[string]storedLogin `json:"servers"`
}

// tokenStore keeps logins in a JSON file readable by its owner only (0600, in a 0700
// directory), written atomically (temporary file, then rename).
type tokenStore struct {
	path string
	mu   sync.Mutex
}

func (s *tokenStore) read() (tokenFile, error) {
	f := tokenFile{Servers: map[string]storedLogin{}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return tokenFile{Servers: map[string]storedLogin{}}, fmt.Errorf("token file %s: %w", s.path, err)
	}
	if f.Servers == nil {
		f.Servers = map[string]storedLogin{}
	}
	return f, nil
}

func (s *tokenStore) get(server string) (storedLogin, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.read()
	if err != nil {
		return storedLogin{}, false
	}
	rec, ok := f.Servers[server]
	return rec, ok && rec.AccessToken != ""
}

func (s *tokenStore) put(server string, rec storedLogin) error {
	return s.update(func(f *tokenFile) { f.Servers[server] = rec })
}

func (s *tokenStore) delete(server string) error {
	return s.update(func(f *tokenFile) { delete(f.Servers, server) })
}

func (s *tokenStore) update(change func(*tokenFile)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.read()
	if err != nil {
		return err
	}
	change(&f)
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(s.path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

// persistingSource saves every new token its source returns (refreshes rotate the
// refresh token, so the old one is useless after the first refresh).
type persistingSource struct {
	mu   sync.Mutex
	src  oauth2.TokenSource
	rec  storedLogin
	save func(storedLogin)
}

func newPersistingSource(src oauth2.TokenSource, rec storedLogin, save func(storedLogin)) *persistingSource {
	return &persistingSource{src: src, rec: rec, save: save}
}

// Token implements oauth2.TokenSource.
func (p *persistingSource) Token() (*oauth2.Token, error) {
	tok, err := p.src.Token()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if tok.AccessToken != p.rec.AccessToken {
		p.rec.setToken(tok)
		p.save(p.rec)
	}
	return tok, nil
}
