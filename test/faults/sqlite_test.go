package faults_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/fosite-mcp/fosite-mcp/mcp"
	"github.com/fosite-mcp/fosite-mcp/provider"
	gormstore "github.com/fosite-mcp/fosite-mcp/storage/gorm"
)

// openSQLite opens a Store on the SQLite file at path with OpenSQLite's settings but a
// 200 ms busy timeout (instead of 10 s, to keep the test fast), plus extra URI
// parameters. The caller's Store is closed at cleanup; the file is migrated when migrate.
func openSQLite(t *testing.T, path, extra string, migrate bool) *gormstore.Store {
	t.Helper()
	dsn := strings.Replace(gormstore.SQLiteDSN(path), "_busy_timeout=10000", "_busy_timeout=200", 1)
	if !strings.Contains(dsn, "_busy_timeout=200") {
		t.Fatalf("DSN %q has no 10 s busy timeout to shorten", dsn)
	}
	db, err := gorm.Open(sqlite.Open(dsn+extra), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { _ = sqlDB.Close() })
	s, err := gormstore.New(db, storeOptions())
	if err != nil {
		t.Fatal(err)
	}
	if migrate {
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// writesUnavailable runs every request that must write while the storage cannot: a registration,
// an authorization (auto-approved: the code is stored), a code exchange, a refresh and
// a revocation, each of which must be a 503 temporarily_unavailable with Retry-After,
// and reads (an MCP call with a valid token) that must keep working.
func writesUnavailable(t *testing.T, c *client, base string, g grant, pendingClient string, pendingAuth reply, verifier string) {
	t.Helper()
	a, _ := c.authorize(base, g.ClientID)
	for _, r := range []reply{
		c.register(base),
		a,
		c.exchange(base, pendingClient, pendingAuth, verifier),
		c.refresh(base, g.ClientID, g.RefreshToken),
		c.revoke(base, g.ClientID, g.RefreshToken),
	} {
		if !r.unavailable() {
			t.Errorf("%v; want 503 temporarily_unavailable with Retry-After", r)
		}
	}
	if r := c.call(base+"/mcp", g.AccessToken); r.Status != http.StatusOK {
		t.Errorf("a read while writes fail: %v; want 200", r)
	}
}

// pendingCode registers a client at base and authorizes it: the code is yet to be
// exchanged.
func (c *client) pendingCode(t *testing.T, base string) (clientID string, auth reply, verifier string) {
	t.Helper()
	reg := c.register(base)
	auth, verifier = c.authorize(base, reg.ClientID)
	if !reg.ok() || !auth.ok() {
		t.Fatalf("%v; %v", reg, auth)
	}
	return reg.ClientID, auth, verifier
}

// lockSQLite holds BEGIN EXCLUSIVE on the database file at path through a connection of
// its own until the returned function is called.
func lockSQLite(t *testing.T, path string) (release func()) {
	t.Helper()
	locker, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := locker.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		locker.Close()
	}
}

// integrityOK runs PRAGMA integrity_check on the file through a connection of its own.
func integrityOK(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("PRAGMA integrity_check = %q, %v; want ok", res, err)
	}
}

// TestIssue14_SQLiteLockedPastBusyTimeout: another connection holds BEGIN EXCLUSIVE on the
// database file longer than the busy timeout. Every request that must write answers 503
// temporarily_unavailable with Retry-After (not invalid_grant, not 500), reads keep
// working, and once the lock is released the same server serves every request again; the
// file passes PRAGMA integrity_check.
func TestIssue14_SQLiteLockedPastBusyTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	r := newReplica(t, openSQLite(t, path, "", true), nil)
	c := newClient(resourceURL)
	g := c.login(t, r.Base, r.Base, r.Base)
	pending, auth, verifier := c.pendingCode(t, r.Base)

	release := lockSQLite(t, path)
	writesUnavailable(t, c, r.Base, g, pending, auth, verifier)
	release()

	// The same server, the same credentials: everything works again.
	if x := c.exchange(r.Base, pending, auth, verifier); !x.ok() {
		t.Errorf("code exchange after the lock: %v", x)
	}
	ref := c.refresh(r.Base, g.ClientID, g.RefreshToken)
	if !ref.ok() {
		t.Fatalf("refresh after the lock: %v", ref)
	}
	if got := c.call(r.Base+"/mcp", ref.AccessToken); got.Status != http.StatusOK {
		t.Errorf("MCP call after the lock: %v", got)
	}
	c.login(t, r.Base, r.Base, r.Base)
	integrityOK(t, path)
}

// TestIssue14_SQLiteReadOnly: a replica whose database file is read-only (opened with
// mode=ro, as a read-only file or file system would have it) answers every request that
// must write with 503 temporarily_unavailable and Retry-After, serves reads, and leaves
// the file intact; the writable server keeps serving the same grants.
func TestIssue14_SQLiteReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	rw := newReplica(t, openSQLite(t, path, "", true), nil)
	c := newClient(resourceURL)
	g := c.login(t, rw.Base, rw.Base, rw.Base)
	pending, auth, verifier := c.pendingCode(t, rw.Base)

	ro := newReplica(t, openSQLite(t, path, "&mode=ro", false), nil)
	writesUnavailable(t, c, ro.Base, g, pending, auth, verifier)
	if got := c.do("readyz", mustRequest(t, ro.Base+"/readyz")); got.Status != http.StatusOK {
		t.Errorf("/readyz of the read-only replica: %v; want 200 (it reads)", got)
	}

	if x := c.exchange(rw.Base, pending, auth, verifier); !x.ok() {
		t.Errorf("code exchange on the writable server: %v", x)
	}
	if ref := c.refresh(rw.Base, g.ClientID, g.RefreshToken); !ref.ok() {
		t.Errorf("refresh on the writable server: %v", ref)
	}
	integrityOK(t, path)
}

// TestIssue14_ConsentAPIDuringLock: an own consent page (provider.Config.LoginURL) that
// approves while the database is locked past the busy timeout gets an error wrapping
// provider.ErrStorageUnavailable and no redirect URL (so it answers 503 and the user may
// retry); after the lock the same pending request is approved.
func TestIssue14_ConsentAPIDuringLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	r := newReplica(t, openSQLite(t, path, "", true), nil, func(cfg *mcp.Config) {
		cfg.Provider.AutoApprove = nil
		cfg.Provider.LoginURL = issuer + "/consent"
	})
	c := newClient(resourceURL)
	reg := c.register(r.Base)
	id, cookies := c.pendingInBrowser(t, r.Base, reg.ClientID)
	browser := httptest.NewRequest(http.MethodPost, issuer+"/consent", nil)
	for _, ck := range cookies {
		browser.AddCookie(ck)
	}

	release := lockSQLite(t, path)
	redirect, err := r.Auth.Provider().Approve(browser, id, "alice", []string{scope})
	if !errors.Is(err, provider.ErrStorageUnavailable) || redirect != "" {
		t.Errorf("Approve while locked = %q, %v; want no URL and ErrStorageUnavailable", redirect, err)
	}
	release()

	redirect, err = r.Auth.Provider().Approve(browser, id, "alice", []string{scope})
	if err != nil || !strings.Contains(redirect, "code=") {
		t.Errorf("Approve after the lock = %q, %v; want the redirect with a code", redirect, err)
	}
	integrityOK(t, path)
}

// TestIssue14_DeviceAuthorizationDuringLock (RFC 8628 §3.1, §3.4): with the database
// locked past the busy timeout, the device authorization endpoint and device-code
// polling answer 503 temporarily_unavailable with Retry-After (never invalid_client or
// server_error); after the lock the same client starts a device authorization and its
// poll is authorization_pending.
func TestIssue14_DeviceAuthorizationDuringLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	r := newReplica(t, openSQLite(t, path, "", true), nil, func(cfg *mcp.Config) {
		cfg.Provider.DeviceAuthorization = &provider.DeviceAuthorizationOptions{}
	})
	c := newClient(resourceURL)
	body, _ := json.Marshal(map[string]any{
		"client_name": "faults device test", "token_endpoint_auth_method": "none",
		"grant_types": []string{provider.GrantTypeDeviceCode, "refresh_token"},
	})
	req, _ := http.NewRequest(http.MethodPost, r.Base+"/register", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	reg := c.do("register", req)
	if !reg.ok() {
		t.Fatalf("register: %v", reg)
	}
	var client struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(reg.Body), &client); err != nil || client.ClientID == "" {
		t.Fatalf("register: %v (%v)", reg, err)
	}
	post := func(op, path string, form url.Values) reply {
		req, _ := http.NewRequest(http.MethodPost, r.Base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return c.do(op, req)
	}
	start := func() reply {
		return post("device authorization", provider.DeviceAuthorizationPath,
			url.Values{"client_id": {client.ClientID}, "scope": {scope}, "resource": {c.resource}})
	}
	first := start()
	var dev struct {
		DeviceCode string `json:"device_code"`
	}
	if err := json.Unmarshal([]byte(first.Body), &dev); !first.ok() || err != nil || dev.DeviceCode == "" {
		t.Fatalf("device authorization: %v", first)
	}
	poll := func() reply {
		return post("device poll", "/token", url.Values{"grant_type": {provider.GrantTypeDeviceCode},
			"device_code": {dev.DeviceCode}, "client_id": {client.ClientID}})
	}

	release := lockSQLite(t, path)
	for _, got := range []reply{start(), poll()} {
		if !got.unavailable() {
			t.Errorf("%v while locked; want 503 temporarily_unavailable with Retry-After", got)
		}
	}
	release()

	if got := start(); !got.ok() {
		t.Errorf("device authorization after the lock: %v", got)
	}
	if got := poll(); got.Status != http.StatusBadRequest || got.Error != "authorization_pending" {
		t.Errorf("poll after the lock: %v; want 400 authorization_pending", got)
	}
	integrityOK(t, path)
}
