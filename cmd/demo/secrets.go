package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// secrets are the demo server's long-lived secrets. They are generated on the first start
// and kept in a file (0600) next to the database, because they must outlive restarts:
// tokens are HMAC-signed with GlobalSecret, and session data in the database is sealed
// with EncryptionKey. A new secret would log every client out and make the stored
// sessions unreadable. Nothing here is hard-coded; see loadOrCreateSecrets.
type secrets struct {
	// GlobalSecret signs tokens, codes and the pages' session cookies and CSRF tokens
	// (each under its own derived key). 32 random bytes.
	GlobalSecret []byte `json:"global_secret"`
	// EncryptionKey seals session data and pending authorizations at rest
	// (AES-256-GCM). 32 random bytes.
	EncryptionKey []byte `json:"encryption_key"`
	// Passwords are the demo users' random passwords, used when the issuer is not a
	// loopback URL (on loopback the users have well-known demo passwords).
	Passwords map[string]string `json:"passwords"`
	// CreatedAt is when the file was created.
	CreatedAt time.Time `json:"created_at"`
}

// encryptionKeyID names the encryption key in the database rows it seals: a fingerprint,
// so that a secrets file that does not belong to the database is recognised as such.
func (s *secrets) encryptionKeyID() string {
	sum := sha256.Sum256(s.EncryptionKey)
	return "demo-" + hex.EncodeToString(sum[:6])
}

func (s *secrets) validate() error {
	switch {
	case len(s.GlobalSecret) < 32:
		return errors.New("global_secret must be at least 32 bytes")
	case len(s.EncryptionKey) != 32:
		return errors.New("encryption_key must be exactly 32 bytes")
	}
	for _, u := range demoUsers {
		if len(s.Passwords[u.Username]) < 12 {
			return fmt.Errorf("passwords.%s must be at least 12 characters", u.Username)
		}
	}
	return nil
}

// newSecrets generates fresh secrets.
func newSecrets() (*secrets, error) {
	s := &secrets{
		GlobalSecret:  make([]byte, 32),
		EncryptionKey: make([]byte, 32),
		Passwords:     make(map[string]string, len(demoUsers)),
		CreatedAt:     time.Now().UTC().Truncate(time.Second),
	}
	if _, err := rand.Read(s.GlobalSecret); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.EncryptionKey); err != nil {
		return nil, err
	}
	for _, u := range demoUsers {
		s.Passwords[u.Username] = rand.Text()[:16]
	}
	return s, nil
}

// loadOrCreateSecrets reads the secrets file at path, or creates it with fresh secrets
// (mode 0600) when it does not exist; created reports which. Creation is atomic: the
// file is written under a temporary name and linked into place, so a concurrent start
// either wins or reads the winner's complete file.
func loadOrCreateSecrets(path string) (s *secrets, created bool, err error) {
	s, err = readSecrets(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	s, err = newSecrets()
	if err != nil {
		return nil, false, fmt.Errorf("generating secrets: %w", err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("creating the secrets file's directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, false, fmt.Errorf("creating the secrets file: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp uses 0600; Chmod makes that explicit on every platform.
	if err := tmp.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		tmp.Close()
		return nil, false, err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("writing the secrets file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if err := tmp.Close(); err != nil {
		return nil, false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process created it first
			s, err = readSecrets(path)
			return s, false, err
		}
		return nil, false, fmt.Errorf("creating the secrets file: %w", err)
	}
	return s, true, nil
}

func readSecrets(path string) (*secrets, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s secrets
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("secrets file %s: %w", path, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("secrets file %s: %w", path, err)
	}
	return &s, nil
}

// secretsFileTooOpen reports whether the file at path is readable by group or others.
func secretsFileTooOpen(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm()&0o077 != 0
}
