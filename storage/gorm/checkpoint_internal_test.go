package gormstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheckpointer_RestartsTheLogUnderContinuousWrites pins what moving checkpoints off the
// writer must keep: under writes that never pause, the log is still restarted (without the
// checkpointer's step inside the writer's turn it never is: its file would grow with every
// frame written), and nothing written is lost. The writer's own safety valve is switched
// off here, so that only the checkpointer (restart from 64 frames) restarts the log. The
// writers go on until it has three times, or for 20,000 transactions: with the step, 200–340
// were enough (also under -race with another process syncing the disk); without it, a
// PASSIVE checkpoint that happened to finish between two batches restarted the log three
// times only after 45,000–103,000.
func TestCheckpointer_RestartsTheLogUnderContinuousWrites(t *testing.T) {
	s := openGroupStore(t)
	if s.checkpoints == nil {
		t.Fatal("OpenSQLite started no checkpointer")
	}
	if err := s.checkpoints.Close(); err != nil {
		t.Fatal(err)
	}
	var path string
	row := s.db.Raw(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Row()
	if err := row.Scan(&path); err != nil || filepath.Base(path) != "group.db" {
		t.Fatalf("database file %q: %v", path, err)
	}
	for _, q := range []string{`PRAGMA wal_autocheckpoint = 0`, `CREATE TABLE gc_log (id INTEGER PRIMARY KEY, data BLOB)`} {
		if err := s.db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if s.checkpoints, err = startCheckpointer(s.group, SQLiteDSN(path), s.log, time.Millisecond, 1, 64); err != nil {
		t.Fatal(err)
	}

	const writers, wantRestarts, maxTransactions = 4, 3, 20000
	deadline := time.Now().Add(time.Minute)
	blob := make([]byte, 3000) // about a page a row: a frame or more a transaction
	var wg sync.WaitGroup
	var written atomic.Int64
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.checkpoints.restarts.Load() < wantRestarts && written.Load() < maxTransactions && time.Now().Before(deadline) {
				m, err := s.group.begin(context.Background())
				if err == nil {
					_, err = m.ExecContext(context.Background(), `INSERT INTO gc_log (data) VALUES (?)`, blob)
					if err == nil {
						err = m.Commit()
					} else {
						_ = m.Rollback()
					}
				}
				if err != nil {
					errs <- err
					return
				}
				written.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := s.checkpoints.restarts.Load(); n < wantRestarts {
		t.Fatalf("the log was restarted %d times in %d transactions of continuous writes, want %d", n, written.Load(), wantRestarts)
	}
	var n int64
	if err := s.read.Raw(`SELECT count(*) FROM gc_log`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != written.Load() {
		t.Fatalf("%d rows after the writes, want %d", n, written.Load())
	}
}

// TestOpenSQLite_WriterCheckpointIsASafetyValve pins the writer connection's own automatic
// checkpoint: raised far above SQLite's 1,000 frames (the checkpointer does that work off
// the writer's turn), but still on, so that the log stays bounded if the checkpointer fails.
func TestOpenSQLite_WriterCheckpointIsASafetyValve(t *testing.T) {
	s := openGroupStore(t)
	var n int
	if err := s.db.Raw(`PRAGMA wal_autocheckpoint`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != sqliteWriterAutoCheckpoint || n <= checkpointRestartFrames {
		t.Fatalf("writer wal_autocheckpoint = %d, want %d (above the checkpointer's restart at %d)", n, sqliteWriterAutoCheckpoint, checkpointRestartFrames)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpoints.Close(); err != nil { // a second Close of the checkpointer
		t.Fatal(err)
	}
}

// TestCheckpointer_QuietServerCheckpointsRarely pins that the checkpointer does not sync the
// files after every commit of a quiet server: it checkpoints once checkpointCommits batches
// have committed since its last pass, as rarely as SQLite's own 1,000-frame checkpoint.
func TestCheckpointer_QuietServerCheckpointsRarely(t *testing.T) {
	s := openGroupStore(t)
	commit := func(id string) {
		t.Helper()
		m, err := s.group.begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		insertParent(t, m, id)
		if err := m.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < checkpointCommits-1; i++ {
		commit(fmt.Sprintf("quiet-%d", i))
	}
	time.Sleep(3 * checkpointInterval) // time enough for a pass, were one due
	if n := s.checkpoints.passes.Load(); n != 0 {
		t.Fatalf("%d checkpoint passes after %d commits, want none before %d", n, checkpointCommits-1, checkpointCommits)
	}
	commit("quiet-last")
	deadline := time.Now().Add(5 * time.Second)
	for s.checkpoints.passes.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint pass after %d commits", checkpointCommits)
		}
		time.Sleep(time.Millisecond)
	}
}
