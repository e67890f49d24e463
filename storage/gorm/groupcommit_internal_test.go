package gormstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openGroupStore opens an SQLite file store (OpenSQLite: group commit on) with two test tables.
func openGroupStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "group.db"), Options{
		EncryptionKeys: []Key{{ID: "k", Secret: make([]byte, 32)}},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.group == nil {
		t.Fatal("OpenSQLite did not turn group commit on")
	}
	for _, q := range []string{
		`CREATE TABLE gc_parent (id TEXT PRIMARY KEY)`,
		`CREATE TABLE gc_child (id TEXT PRIMARY KEY, parent TEXT REFERENCES gc_parent(id))`,
	} {
		if err := s.db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// committed reports whether a reader connection (not the writer) sees the parent row id.
func committed(t *testing.T, s *Store, id string) bool {
	t.Helper()
	var n int
	if err := s.read.Raw(`SELECT count(*) FROM gc_parent WHERE id = ?`, id).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func insertParent(t *testing.T, m *member, id string) {
	t.Helper()
	if _, err := m.ExecContext(context.Background(), `INSERT INTO gc_parent (id) VALUES (?)`, id); err != nil {
		t.Fatal(err)
	}
}

// waitWaiting waits until n begin calls wait for the writer.
func waitWaiting(t *testing.T, g *groupCommitter, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for g.waiting.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("waiting = %d, want %d", g.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// joinSecond starts a first member, and a second one that begins while the first holds the
// writer, so that both share a batch. It returns the first member; the second runs second.
func joinSecond(t *testing.T, g *groupCommitter, second func(m *member)) (*member, chan struct{}) {
	t.Helper()
	m1, err := g.begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m2, err := g.begin(context.Background())
		if err != nil {
			t.Error(err)
			return
		}
		if !m2.savepoint || m2.b != m1.b {
			t.Error("the second member did not join the first one's batch")
		}
		second(m2)
	}()
	waitWaiting(t, g, 1)
	return m1, done
}

func TestGroupCommit_MemberRollbackKeepsTheOthersWork(t *testing.T) {
	s := openGroupStore(t)
	g := s.group
	m1, done := joinSecond(t, g, func(m2 *member) {
		if _, err := m2.ExecContext(context.Background(), `INSERT INTO gc_parent (id) VALUES ('b')`); err != nil {
			t.Error(err)
		}
		if err := m2.Rollback(); err != nil {
			t.Error(err)
		}
	})
	insertParent(t, m1, "a")
	if err := m1.Commit(); err != nil { // returns once the second member ended the batch
		t.Fatal(err)
	}
	<-done
	if !committed(t, s, "a") || committed(t, s, "b") {
		t.Fatalf("a committed %v (want true), b committed %v (want false)", committed(t, s, "a"), committed(t, s, "b"))
	}
	if c, n := g.commits.Load(), g.members.Load(); c != 1 || n != 1 {
		t.Fatalf("commits %d members %d, want 1 and 1", c, n)
	}
}

func TestGroupCommit_FailedCommitFailsEveryMember(t *testing.T) {
	s := openGroupStore(t)
	g := s.group
	var err2 error
	m1, done := joinSecond(t, g, func(m2 *member) {
		if _, err := m2.ExecContext(context.Background(), `INSERT INTO gc_parent (id) VALUES ('b')`); err != nil {
			t.Error(err)
		}
		err2 = m2.Commit()
	})
	// A deferred foreign key violation makes the batch's COMMIT fail.
	for _, q := range []string{`PRAGMA defer_foreign_keys = ON`, `INSERT INTO gc_child (id, parent) VALUES ('c', 'missing')`} {
		if _, err := m1.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	err1 := m1.Commit()
	<-done
	if err1 == nil || err2 == nil {
		t.Fatalf("Commit errors %v and %v, want both to fail", err1, err2)
	}
	if committed(t, s, "b") {
		t.Fatal("the second member's row was committed by a failed batch")
	}
	// The writer is usable again.
	m, err := g.begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	insertParent(t, m, "d")
	if err := m.Commit(); err != nil || !committed(t, s, "d") {
		t.Fatalf("after a failed batch: %v", err)
	}
}

// A waiter that gives up must not leave the batch open (the member before it left the
// batch's COMMIT to it): the member's Commit still returns.
func TestGroupCommit_CancelledWaiterDoesNotStrandTheBatch(t *testing.T) {
	s := openGroupStore(t)
	g := s.group
	for i := 0; i < 20; i++ {
		m1, err := g.begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		gaveUp := make(chan error, 1)
		go func() {
			m, err := g.begin(ctx)
			if err == nil {
				err = m.Rollback() // it got the writer before its cancellation: fine too
			}
			gaveUp <- err
		}()
		waitWaiting(t, g, 1)
		id := fmt.Sprint("p", i)
		insertParent(t, m1, id)
		committedCh := make(chan error, 1)
		go func() { committedCh <- m1.Commit() }()
		if i%2 == 0 {
			time.Sleep(time.Millisecond) // let the first member leave the batch to the waiter
		}
		cancel()
		select {
		case err := <-committedCh:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the first member's Commit never returned: its batch was stranded")
		}
		if err := <-gaveUp; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if !committed(t, s, id) {
			t.Fatalf("row %s not committed", id)
		}
	}
}

// Concurrent write transactions share commits, and each sees its row committed (on another
// connection) by the time its Commit returns.
func TestGroupCommit_ConcurrentTransactionsShareCommits(t *testing.T) {
	s := openGroupStore(t)
	g := s.group
	const workers, each = 16, 10
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprint(w, "-", i)
				ctx, err := s.BeginWriteTX(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.exec(ctx, openConn(ctx), `INSERT INTO gc_parent (id) VALUES (?)`, id); err != nil {
					t.Error(err)
				}
				time.Sleep(200 * time.Microsecond) // a token request's work between statements
				if err := s.Commit(ctx); err != nil {
					t.Error(err)
					return
				}
				var n int
				if err := s.read.Raw(`SELECT count(*) FROM gc_parent WHERE id = ?`, id).Scan(&n).Error; err != nil || n != 1 {
					t.Errorf("row %s after Commit: %d rows, %v", id, n, err)
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := s.read.Raw(`SELECT count(*) FROM gc_parent`).Scan(&n).Error; err != nil || n != workers*each {
		t.Fatalf("%d rows (%v), want %d", n, err, workers*each)
	}
	commits, members := g.commits.Load(), g.members.Load()
	if members != workers*each || commits >= members {
		t.Fatalf("%d commits for %d members: no batch formed", commits, members)
	}
	t.Logf("%d commits for %d transactions", commits, members)
}

// A write outside any transaction (the writer pool) does not deadlock against open batches.
func TestGroupCommit_WritesOutsideTransactionsGoOn(t *testing.T) {
	s := openGroupStore(t)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				ctx, err := s.BeginWriteTX(context.Background())
				if err == nil {
					_, err = s.exec(ctx, openConn(ctx), `INSERT INTO gc_parent (id) VALUES (?)`, fmt.Sprint("tx", w, "-", i))
					if cerr := s.Commit(ctx); err == nil {
						err = cerr
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := s.db.Exec(`INSERT INTO gc_parent (id) VALUES (?)`, fmt.Sprint("plain", w, "-", i)).Error; err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("writes deadlocked")
	}
	var n int
	if err := s.read.Raw(`SELECT count(*) FROM gc_parent`).Scan(&n).Error; err != nil || n != 160 {
		t.Fatalf("%d rows (%v), want 160", n, err)
	}
}
