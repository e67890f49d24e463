package gormstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
	"github.com/fosite-mcp/fosite-mcp/storage/gorm/gormtest"
)

// dumpDatabase returns everything an attacker with the database would read. SQLite: the bytes
// of the database file, WAL and shared-memory file, before and after a checkpoint.
// PostgreSQL: the text form of every row of every table in the database.
func dumpDatabase(t *testing.T, db gormtest.Database, s *gormstore.Store) []byte {
	t.Helper()
	var out bytes.Buffer
	switch db.Backend {
	case gormtest.SQLite:
		readFiles := func() {
			matches, err := filepath.Glob(db.Path + "*")
			must(t, err)
			if len(matches) == 0 {
				t.Fatalf("no database files at %s", db.Path)
			}
			for _, m := range matches {
				b, err := os.ReadFile(m)
				must(t, err)
				out.Write(b)
			}
		}
		readFiles()
		must(t, s.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error)
		readFiles()
	case gormtest.Postgres:
		var tables []string
		must(t, s.DB().Raw("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").
			Scan(&tables).Error)
		if len(tables) < 8 {
			t.Fatalf("found only tables %v", tables)
		}
		for _, table := range tables {
			var rows []string
			must(t, s.DB().Raw(`SELECT CAST(t AS TEXT) FROM "`+table+`" t`).Scan(&rows).Error)
			for _, r := range rows {
				out.WriteString(r)
				out.WriteByte('\n')
			}
		}
	}
	return out.Bytes()
}

// assertAbsent fails when any needle appears in dump, raw or hex-encoded (PostgreSQL prints
// bytea as hex).
func assertAbsent(t *testing.T, dump []byte, needles map[string]string) {
	t.Helper()
	lower := bytes.ToLower(dump)
	for what, n := range needles {
		if n == "" {
			t.Fatalf("empty needle %s", what)
		}
		if bytes.Contains(dump, []byte(n)) || bytes.Contains(lower, []byte(hex.EncodeToString([]byte(n)))) {
			t.Errorf("%s found in the database at rest", what)
		}
	}
}

func assertPresent(t *testing.T, dump []byte, what, needle string) {
	t.Helper()
	if !bytes.Contains(dump, []byte(needle)) {
		t.Errorf("%s not found in the dump: the dump does not cover the stored rows", what)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// hmacSignature is the signature part of a fosite HMAC token ("key.signature").
func hmacSignature(token string) string { return token[strings.LastIndexByte(token, '.')+1:] }

// TestEncryptionAtRest_StoreLevel stores every kind of row with a marker in the session JSON and
// form, then reads the database as an attacker would: no marker, no fosite signature, no pending
// authorization ID, no client secret.
func TestEncryptionAtRest_StoreLevel(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		s := db.Open(t, gormtest.DefaultOptions(t))
		c := ctx(t)
		secret, hash, err := provider.GenerateSecret()
		must(t, err)
		cl := newClient(t, "client")
		cl.SecretHash = hash
		must(t, s.CreateClient(c, cl))

		marker := randomString(t, "SESSION-MARKER-")
		formMarker := randomString(t, "FORM-MARKER-")
		req := newRequest(cl, "grant", marker)
		req.Form.Set("state", formMarker)
		sigs := map[string]string{
			"code signature":    randomString(t, "codesig"),
			"access signature":  randomString(t, "atsig"),
			"refresh signature": randomString(t, "rtsig"),
		}
		must(t, s.CreateAuthorizeCodeSession(c, sigs["code signature"], req))
		must(t, s.CreatePKCERequestSession(c, sigs["code signature"], req))
		must(t, s.CreateAccessTokenSession(c, sigs["access signature"], req))
		must(t, s.CreateRefreshTokenSession(c, sigs["refresh signature"], sigs["access signature"], req))
		pendingID := randomString(t, "pending-id-")
		must(t, s.CreatePendingAuthorization(c, pendingID, &provider.PendingAuthorization{
			ClientID: "client", Form: url.Values{"state": {formMarker}, "x": {marker}}, ExpiresAt: time.Now().Add(time.Minute)}))
		jti := randomString(t, "jti-")
		must(t, s.SetClientAssertionJWT(c, jti, time.Now().Add(time.Hour)))

		dump := dumpDatabase(t, db, s)
		needles := map[string]string{
			"session marker":           marker,
			"form marker":              formMarker,
			"client secret":            secret,
			"pending authorization ID": pendingID,
			"JTI":                      jti,
		}
		for k, v := range sigs {
			needles[k] = v
		}
		assertAbsent(t, dump, needles)
		assertPresent(t, dump, "hashed access signature", sha256Hex(sigs["access signature"]))
		assertPresent(t, dump, "client ID", "client")
	})
}

// TestEncryptionAtRest_FullFlow runs authorize → token → refresh through fosite and then looks
// for every code, token, token signature and the client secret in the database.
func TestEncryptionAtRest_FullFlow(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		s := db.Open(t, gormtest.DefaultOptions(t))
		f := newFositeFlow(t, s)
		c := ctx(t)
		code, verifier := f.authorize(t)
		at1, rt1, err := f.exchange(c, code, verifier)
		if err != nil {
			t.Fatalf("exchange: %s", rfcError(err))
		}
		at2, rt2, err := f.refresh(c, rt1)
		if err != nil {
			t.Fatalf("refresh: %s", rfcError(err))
		}
		dump := dumpDatabase(t, db, s)
		needles := map[string]string{
			"client secret":  f.secret,
			"session marker": f.marker,
			"PKCE verifier":  verifier,
		}
		for name, tok := range map[string]string{"code": code, "access token 1": at1, "refresh token 1": rt1,
			"access token 2": at2, "refresh token 2": rt2} {
			needles[name] = tok
			needles[name+" signature"] = hmacSignature(tok)
		}
		assertAbsent(t, dump, needles)
		assertPresent(t, dump, "hashed refresh token signature", sha256Hex(hmacSignature(rt2)))
	})
}

// TestEncryptionAtRest_KeyRotation pins key rotation: data written under key A stays readable
// with keys [B, A], new data is written under B, and a store without A cannot read A's data.
// Ciphertexts are bound to their row: moved to another row, they do not decrypt.
func TestEncryptionAtRest_KeyRotation(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		c := ctx(t)
		keyA, keyB := gormtest.NewKey(t, "key-a"), gormtest.NewKey(t, "key-b")
		opts := func(keys ...gormstore.Key) gormstore.Options {
			o := gormtest.DefaultOptions(t)
			o.EncryptionKeys = keys
			return o
		}
		storeA := db.Open(t, opts(keyA))
		storeBA := db.Open(t, opts(keyB, keyA))
		storeB := db.Open(t, opts(keyB))

		cl := mustCreateClient(t, storeA, "client")
		reqA := newRequest(cl, "grant-a", "written-under-a")
		must(t, storeA.CreateAccessTokenSession(c, "at-a", reqA))
		must(t, storeA.CreateRefreshTokenSession(c, "rt-a", "at-a", reqA))
		must(t, storeA.CreatePendingAuthorization(c, "pa-a", &provider.PendingAuthorization{
			ClientID: "client", Form: url.Values{"k": {"v"}}, ExpiresAt: time.Now().Add(time.Minute)}))

		sess := &fosite.DefaultSession{}
		got, err := storeBA.GetAccessTokenSession(c, "at-a", sess)
		if err != nil {
			t.Fatalf("[B, A] reading A's data: %v", err)
		}
		checkRoundTrip(t, reqA, got, sess)
		if _, err := storeBA.GetPendingAuthorization(c, "pa-a"); err != nil {
			t.Errorf("[B, A] reading A's pending authorization: %v", err)
		}

		reqB := newRequest(cl, "grant-b", "written-under-b")
		must(t, storeBA.CreateAccessTokenSession(c, "at-b", reqB))
		var keyIDs []string
		must(t, storeA.DB().Table("oauth_access_tokens").Order("request_id").Pluck("key_id", &keyIDs).Error)
		if strings.Join(keyIDs, ",") != "key-a,key-b" {
			t.Errorf("key IDs of rows = %v; want [key-a key-b]", keyIDs)
		}

		for what, err := range map[string]error{
			"[B] reading A's access token":          second(storeB.GetAccessTokenSession(c, "at-a", nil)),
			"[B] reading A's refresh token":         second(storeB.GetRefreshTokenSession(c, "rt-a", nil)),
			"[B] reading A's pending authorization": second(storeB.GetPendingAuthorization(c, "pa-a")),
			"[A] reading B's access token":          second(storeA.GetAccessTokenSession(c, "at-b", nil)),
		} {
			if !errors.Is(err, gormstore.ErrUndecryptable) {
				t.Errorf("%s: %v; want ErrUndecryptable", what, err)
			}
			if errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("%s: undecryptable data reported as not found", what)
			}
		}
		if _, err := storeB.GetAccessTokenSession(c, "at-b", nil); err != nil {
			t.Errorf("[B] reading B's data: %v", err)
		}

		// Move at-b's ciphertext into at-a's row: authentication must fail.
		var data []byte
		must(t, storeA.DB().Raw("SELECT data FROM oauth_access_tokens WHERE request_id = ?", "grant-b").Row().Scan(&data))
		must(t, storeA.DB().Exec("UPDATE oauth_access_tokens SET data = ?, key_id = ? WHERE request_id = ?", data, "key-b", "grant-a").Error)
		if _, err := storeBA.GetAccessTokenSession(c, "at-a", nil); !errors.Is(err, gormstore.ErrUndecryptable) {
			t.Errorf("ciphertext moved to another row: %v; want ErrUndecryptable", err)
		}
	})
}

// TestSignatureKeys_IssueOrderInClear: a code's or token's signature with an issue order
// (provider.SignatureIssueOrder) is stored as that order in clear followed by the SHA-256
// of the whole signature, so the tables' key indexes hold tokens in issue order; a
// signature without one is stored as its SHA-256 alone. Neither the signature nor its
// HMAC is stored, and each token is found under its signature.
func TestSignatureKeys_IssueOrderInClear(t *testing.T) {
	gormtest.RunDB(t, func(t *testing.T, db gormtest.Database) {
		s := db.Open(t, gormtest.DefaultOptions(t))
		c := ctx(t)
		cl := mustCreateClient(t, s, "client")
		req := newRequest(cl, "grant", "marker")
		// Issued in this order.
		sigs := []string{
			"0193a1b2c3d4." + randomString(t, "z"),
			"0193a1b2c3d5." + randomString(t, "m"),
			"0193a1b2c3e0." + randomString(t, "a"),
		}
		plain := randomString(t, "plain")
		for _, sig := range append(sigs, plain) {
			must(t, s.CreateRefreshTokenSession(c, sig, "", req))
		}
		var stored []string
		must(t, s.DB().Raw("SELECT signature FROM oauth_refresh_tokens ORDER BY signature").Scan(&stored).Error)
		var want []string
		for _, sig := range sigs {
			want = append(want, sig[:13]+sha256Hex(sig))
		}
		if i := slices.Index(stored, sha256Hex(plain)); i < 0 {
			t.Errorf("stored signatures %q lack the plain signature's SHA-256", stored)
		} else if stored = slices.Delete(stored, i, i+1); !slices.Equal(stored, want) {
			t.Errorf("stored signatures %q, want %q (in issue order)", stored, want)
		}
		for _, sig := range append(sigs, plain) {
			if _, err := s.GetRefreshTokenSession(c, sig, &fosite.DefaultSession{}); err != nil {
				t.Errorf("GetRefreshTokenSession(%q): %v", sig, err)
			}
		}
		needles := map[string]string{}
		for i, sig := range sigs {
			needles[fmt.Sprintf("signature %d", i)] = sig
			needles[fmt.Sprintf("HMAC %d", i)] = sig[13:]
		}
		assertAbsent(t, dumpDatabase(t, db, s), needles)
	})
}
