package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The secrets file is created once, mode 0600, and read back unchanged afterwards.
func TestSecretsFileCreatedOnceWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "demo.db.secrets")
	s1, created, err := loadOrCreateSecrets(path)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %o, want 600", perm)
	}
	if secretsFileTooOpen(path) {
		t.Error("secretsFileTooOpen on a 0600 file")
	}
	s2, created, err := loadOrCreateSecrets(path)
	if err != nil || created {
		t.Fatalf("second load: created=%v err=%v", created, err)
	}
	if !bytes.Equal(s1.GlobalSecret, s2.GlobalSecret) || !bytes.Equal(s1.EncryptionKey, s2.EncryptionKey) ||
		s1.Passwords["alice"] != s2.Passwords["alice"] || s1.encryptionKeyID() != s2.encryptionKeyID() {
		t.Error("the secrets changed between loads")
	}
	if bytes.Equal(s1.GlobalSecret, s1.EncryptionKey) {
		t.Error("global secret and encryption key are the same bytes")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if !secretsFileTooOpen(path) {
		t.Error("secretsFileTooOpen missed a world-readable file")
	}
	// Another file gets other secrets.
	s3, _, err := loadOrCreateSecrets(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(s1.GlobalSecret, s3.GlobalSecret) || s1.encryptionKeyID() == s3.encryptionKeyID() {
		t.Error("two secrets files share secrets")
	}
}

// Two processes starting at once on a new database agree on one set of secrets.
func TestSecretsFileConcurrentCreation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db.secrets")
	const n = 8
	got := make([]*secrets, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], _, errs[i] = loadOrCreateSecrets(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("load %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i].GlobalSecret, got[0].GlobalSecret) {
			t.Fatalf("load %d got other secrets than load 0", i)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// A damaged or weak secrets file stops the server instead of silently replacing the
// secrets (which would log everyone out and orphan the encrypted sessions).
func TestSecretsFileInvalid(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":      "{",
		"short secret":  `{"global_secret":"c2hvcnQ=","encryption_key":"` + strings.Repeat("A", 43) + `=","passwords":{"alice":"aaaaaaaaaaaaaaaa","bob":"bbbbbbbbbbbbbbbb"}}`,
		"no passwords":  `{"global_secret":"` + strings.Repeat("A", 43) + `=","encryption_key":"` + strings.Repeat("A", 43) + `="}`,
		"empty":         "",
		"wrong key len": `{"global_secret":"` + strings.Repeat("A", 43) + `=","encryption_key":"c2hvcnQ=","passwords":{"alice":"aaaaaaaaaaaaaaaa","bob":"bbbbbbbbbbbbbbbb"}}`,
	} {
		path := filepath.Join(t.TempDir(), "s")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := loadOrCreateSecrets(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := newServer(context.Background(), serverConfig{Issuer: "http://localhost:1", DBPath: filepath.Join(t.TempDir(), "db"), SecretsPath: path}); err == nil {
			t.Errorf("%s: the server started", name)
		}
	}
}

// Loopback demos have the well-known passwords; public ones the random passwords from the
// secrets file.
func TestDemoPasswords(t *testing.T) {
	sec, err := newSecrets()
	if err != nil {
		t.Fatal(err)
	}
	local := newUserDirectory(true, sec)
	public := newUserDirectory(false, sec)
	ctx := context.Background()
	if sub, err := local.Authenticate(ctx, "alice", "wonderland"); err != nil || sub != "alice" {
		t.Errorf("loopback alice/wonderland: %q %v", sub, err)
	}
	if _, err := public.Authenticate(ctx, "alice", "wonderland"); err == nil {
		t.Error("public issuer accepts the well-known password")
	}
	if sub, err := public.Authenticate(ctx, "bob", sec.Passwords["bob"]); err != nil || sub != "bob" {
		t.Errorf("public bob with the generated password: %q %v", sub, err)
	}
	for _, c := range [][2]string{{"alice", ""}, {"", ""}, {"alice", "can-we-fix-it"}, {"mallory", "wonderland"}, {"Alice", "wonderland"}} {
		if _, err := local.Authenticate(ctx, c[0], c[1]); err == nil {
			t.Errorf("%q/%q accepted", c[0], c[1])
		}
	}
}
