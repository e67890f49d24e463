package gormstore

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// TestGroupCommit_OneGroupSavepointPerRotation pins what group commit is for, on a real
// SQLite file: two rotations that queue while the writer is busy run in one database
// transaction (one group), and the one that fails (a token of a client that does not
// exist: a foreign key violation) is rolled back to its savepoint without failing the
// other, whose writes commit.
func TestGroupCommit_OneGroupSavepointPerRotation(t *testing.T) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "oauth.db"), Options{EncryptionKeys: []Key{{ID: "k", Secret: secret}}, GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := context.Background()
	if err := s.Migrate(c); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	cl := &provider.Client{ID: "client", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateClient(c, cl); err != nil {
		t.Fatal(err)
	}
	request := func(client fosite.Client, id string) *fosite.Request {
		sess := &fosite.DefaultSession{Subject: "alice"}
		sess.SetExpiresAt(fosite.RefreshToken, now.Add(time.Hour))
		return &fosite.Request{ID: id, RequestedAt: now, Client: client, Session: sess}
	}
	for _, id := range []string{"good", "doomed"} {
		if err := s.CreateRefreshTokenSession(c, "rt-"+id, "", request(cl, id)); err != nil {
			t.Fatal(err)
		}
	}

	// Hold the writer: a transaction that read (so began in the database).
	holder, err := s.BeginTX(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRefreshTokenSession(holder, "rt-good", nil); err != nil {
		t.Fatal(err)
	}

	rotate := func(id string, next fosite.Client) error {
		tx, err := s.BeginTX(c)
		if err != nil {
			return err
		}
		if err := s.RotateRefreshToken(tx, id, "rt-"+id); err != nil {
			_ = s.Rollback(tx)
			return err
		}
		if err := s.CreateRefreshTokenSession(tx, "rt-"+id+"-1", "", request(next, id)); err != nil {
			_ = s.Rollback(tx)
			return err
		}
		return s.Commit(tx)
	}
	good, doomed := make(chan error, 1), make(chan error, 1)
	go func() { good <- rotate("good", cl) }()
	go func() { doomed <- rotate("doomed", &provider.Client{ID: "nobody"}) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.group.mu.Lock()
		queued := len(s.group.queue)
		s.group.mu.Unlock()
		if queued == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rotations queued; want 2", queued)
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Rollback(holder); err != nil {
		t.Fatal(err)
	}

	if err := <-good; err != nil {
		t.Fatalf("rotation: %v; want success", err)
	}
	if err := <-doomed; err == nil || errors.Is(err, fosite.ErrSerializationFailure) {
		t.Fatalf("rotation storing a token of an unknown client: %v; want its insert's error", err)
	}
	s.group.mu.Lock()
	groups := s.group.groups
	s.group.mu.Unlock()
	if groups != 1 {
		t.Errorf("%d groups ran; want the two rotations in one", groups)
	}
	if _, err := s.GetRefreshTokenSession(c, "rt-good", nil); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("rotated token: %v; want ErrInactiveToken", err)
	}
	if _, err := s.GetRefreshTokenSession(c, "rt-good-1", nil); err != nil {
		t.Errorf("new token of the rotation that committed: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(c, "rt-doomed", nil); err != nil {
		t.Errorf("token of the failed rotation: %v; want it still active (rolled back to its savepoint)", err)
	}
}
