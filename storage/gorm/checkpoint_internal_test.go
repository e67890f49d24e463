package gormstore

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCheckpointer_RestartsTheLogUnderContinuousWrites pins what moving checkpoints off the
// writer must keep: under writes that never pause, the log is still restarted (its file
// stays small instead of growing with every frame written), and nothing written is lost.
// The checkpointer here restarts the log from 64 frames; the writers write about 8,000.
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
	var err error
	if s.checkpoints, err = startCheckpointer(s.group, SQLiteDSN(path), s.log, time.Millisecond, 64); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Exec(`CREATE TABLE gc_log (id INTEGER PRIMARY KEY, data BLOB)`).Error; err != nil {
		t.Fatal(err)
	}

	const writers, each = 4, 2000
	blob := make([]byte, 3000) // about a page a row: a frame or more a transaction
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
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
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var n int
	if err := s.read.Raw(`SELECT count(*) FROM gc_log`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Fatalf("%d rows after the writes, want %d", n, writers*each)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log file: %d bytes", fi.Size())
	// Without restarts the log would hold every frame written: over 32 MB.
	if limit := int64(12 << 20); fi.Size() > limit {
		t.Fatalf("the log grew to %d bytes under continuous writes (limit %d): it is not restarted", fi.Size(), limit)
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
