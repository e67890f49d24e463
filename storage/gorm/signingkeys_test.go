package gormstore_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	return k
}

// TestSigningKeys_Contract: keys round-trip (EC and RSA) in generation order; a taken ID or
// generation is ErrSigningKeyExists; delete removes, and deleting again is ErrNotFound.
func TestSigningKeys_Contract(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	gormtest.Run(t, func(t *testing.T, s *gormstore.Store) {
		c := ctx(t)
		keys, err := s.ListSigningKeys(c)
		if err != nil || len(keys) != 0 {
			t.Fatalf("empty store: %v %v", keys, err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		ec := &provider.SigningKey{ID: "kid-ec", Generation: 2, Algorithm: "ES256", Key: newECKey(t),
			CreatedAt: now, ActiveAt: now.Add(time.Hour)}
		rs := &provider.SigningKey{ID: "kid-rsa", Generation: 1, Algorithm: "RS256", Key: rsaKey,
			CreatedAt: now.Add(-time.Hour), ActiveAt: now.Add(-time.Hour)}
		must(t, s.CreateSigningKey(c, ec))
		must(t, s.CreateSigningKey(c, rs))

		keys, err = s.ListSigningKeys(c)
		must(t, err)
		if len(keys) != 2 || keys[0].ID != "kid-rsa" || keys[1].ID != "kid-ec" {
			t.Fatalf("want [kid-rsa kid-ec] by generation, got %v", keys)
		}
		for i, want := range []*provider.SigningKey{rs, ec} {
			got := keys[i]
			if got.Generation != want.Generation || got.Algorithm != want.Algorithm ||
				!got.CreatedAt.Equal(want.CreatedAt) || !got.ActiveAt.Equal(want.ActiveAt) {
				t.Errorf("key %s: got %+v, want %+v", want.ID, got, want)
			}
			type equaler interface {
				Equal(x crypto.PrivateKey) bool
			}
			if !got.Key.(equaler).Equal(want.Key) {
				t.Errorf("key %s: private key does not round-trip", want.ID)
			}
		}

		for name, k := range map[string]*provider.SigningKey{
			"same ID":         {ID: "kid-ec", Generation: 3, Algorithm: "ES256", Key: newECKey(t)},
			"same generation": {ID: "kid-other", Generation: 2, Algorithm: "ES256", Key: newECKey(t)},
		} {
			if err := s.CreateSigningKey(c, k); !errors.Is(err, provider.ErrSigningKeyExists) {
				t.Errorf("%s: got %v, want ErrSigningKeyExists", name, err)
			}
		}
		if err := s.CreateSigningKey(c, &provider.SigningKey{ID: "x", Generation: 0, Algorithm: "ES256", Key: newECKey(t)}); err == nil {
			t.Error("generation 0 accepted")
		}

		must(t, s.DeleteSigningKey(c, "kid-rsa"))
		if err := s.DeleteSigningKey(c, "kid-rsa"); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
		keys, err = s.ListSigningKeys(c)
		if err != nil || len(keys) != 1 || keys[0].ID != "kid-ec" {
			t.Fatalf("after delete: %v %v", keys, err)
		}
	})
}

// TestSigningKeys_EncryptedAtRest: the private key (d, in every encoding a key is usually
// written in, and its PKCS #8 form) never reaches the database in plaintext; the key ID does.
// A store without the encryption key cannot read the keys.
func TestSigningKeys_EncryptedAtRest(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		s := db.Open(t, gormtest.DefaultOptions(t))
		c := ctx(t)
		ec := newECKey(t)
		must(t, s.CreateSigningKey(c, &provider.SigningKey{ID: "kid-ec-marker", Generation: 1, Algorithm: "ES256", Key: ec}))
		must(t, s.CreateSigningKey(c, &provider.SigningKey{ID: "kid-rsa-marker", Generation: 2, Algorithm: "RS256", Key: rsaKey}))

		dump := dumpDatabase(t, db, s)
		needles := map[string]string{}
		addSecret := func(name string, b []byte) {
			needles[name+" raw"] = string(b)
			needles[name+" base64url"] = base64.RawURLEncoding.EncodeToString(b)
			needles[name+" base64"] = base64.StdEncoding.EncodeToString(b)
		}
		addSecret("EC d", ec.D.FillBytes(make([]byte, 32)))
		addSecret("RSA d", rsaKey.D.Bytes())
		addSecret("RSA p", rsaKey.Primes[0].Bytes())
		for name, k := range map[string]any{"EC": ec, "RSA": rsaKey} {
			der, err := x509.MarshalPKCS8PrivateKey(k)
			must(t, err)
			addSecret(name+" PKCS#8", der)
		}
		assertAbsent(t, dump, needles)
		assertPresent(t, dump, "key ID", "kid-ec-marker")

		other := db.Open(t, gormstore.Options{EncryptionKeys: []gormstore.Key{gormtest.NewKey(t, "other-key")}})
		if _, err := other.ListSigningKeys(c); !errors.Is(err, gormstore.ErrUndecryptable) {
			t.Fatalf("list with a foreign encryption key: %v, want ErrUndecryptable", err)
		}
	})
}

// TestSigningKeys_ConcurrentCreateSameGeneration: replicas (separate Stores on one database)
// creating the same generation at once: exactly one succeeds, the others get
// ErrSigningKeyExists, and every replica then lists the same single key.
func TestSigningKeys_ConcurrentCreateSameGeneration(t *testing.T) {
	const replicas = 6
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		stores := make([]*gormstore.Store, replicas)
		opts := gormtest.DefaultOptions(t)
		for i := range stores {
			stores[i] = db.Open(t, opts)
		}
		c := ctx(t)
		errs := make([]error, replicas)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := &provider.SigningKey{ID: fmt.Sprintf("kid-%d", i), Generation: 1, Algorithm: "ES256", Key: newECKey(t)}
				<-start
				errs[i] = stores[i].CreateSigningKey(c, k)
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, provider.ErrSigningKeyExists):
				t.Errorf("replica %d: %v, want success or ErrSigningKeyExists", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d replicas created generation 1, want exactly 1 (%v)", wins, errs)
		}
		var first string
		for i, s := range stores {
			keys, err := s.ListSigningKeys(c)
			if err != nil || len(keys) != 1 {
				t.Fatalf("replica %d lists %v, %v", i, keys, err)
			}
			if i == 0 {
				first = keys[0].ID
			} else if keys[0].ID != first {
				t.Fatalf("replica %d sees %s, replica 0 sees %s", i, keys[0].ID, first)
			}
		}
	})
}
