package gormstore

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointer copies an SQLite Store's WAL into the database file on a connection of its
// own, off the writer's turn (docs/design-group-commit.md, "Checkpoints, off the writer's
// turn").
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold (1,000
// frames): under load, every few batches one COMMIT also read and wrote a thousand pages
// and synced both files while every token request waited for the writer. The writer's
// automatic checkpoint is therefore raised to a safety valve (sqliteWriterAutoCheckpoint)
// and the checkpointer, woken by commits, runs a PASSIVE checkpoint beside the writer and
// the readers once everyCommits batches have committed since its last one (about SQLite's
// 1,000 frames: a quiet server checkpoints as rarely as before), at most every interval.
// A checkpoint that runs beside writes can copy the log but not restart it (SQLite
// restarts the log at a write transaction's first write once the previous checkpoint
// copied everything): when the log has reached restartFrames, the checkpointer copies the
// rest inside the writer's turn (groupCommitter.exclusive), so that the next batch writes
// the log from its start again. That turn is short: the frames written since the PASSIVE
// pass a moment before.
type checkpointer struct {
	g             *groupCommitter
	db            *sql.DB // one connection of its own to the database file
	log           *slog.Logger
	interval      time.Duration // the least time between two passes
	everyCommits  int64         // the batches committed since the last pass that call for one
	restartFrames int64         // the log size (frames) at which a pass restarts the log

	// lastFrames is the log size the last checkpoint began with; restarts counts the
	// times a checkpoint found the log smaller than that: restarted (tests).
	lastFrames int64
	restarts   atomic.Int64
	passes     atomic.Int64 // passes begun (tests)

	stop      context.CancelFunc // ends run: Close
	done      chan struct{}      // closed when run has returned
	closeOnce sync.Once
	closeErr  error
}

// Checkpoint defaults (checkpointer): a pass once 64 batches have committed since the last
// (a token transaction writes 10–20 frames), at most every 100 ms, and a log restart once it
// holds 4,096 frames (16 MiB of 4 KiB pages). The writer's own automatic checkpoint stays
// on, at four times that, should the checkpointer fall behind.
const (
	checkpointInterval         = 100 * time.Millisecond
	checkpointCommits          = 64
	checkpointRestartFrames    = 4096
	sqliteWriterAutoCheckpoint = 4 * checkpointRestartFrames
	// restartRemainder is how many frames a log restart may leave to copy inside the
	// writer's turn before the checkpointer first tries to copy them beside it.
	restartRemainder = 256
)

// startCheckpointer opens the checkpointer's connection to dsn and starts it on g's commits:
// a pass once commits batches have committed since the last, at most every interval, and a
// log restart from restartFrames frames.
func startCheckpointer(g *groupCommitter, dsn string, log *slog.Logger, interval time.Duration, everyCommits, restartFrames int64) (*checkpointer, error) {
	db, err := openSQLitePool(dsn, 1)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{
		g: g, db: db, log: log,
		interval: interval, everyCommits: everyCommits, restartFrames: restartFrames,
		stop: stop, done: make(chan struct{}),
	}
	g.committed = make(chan struct{}, 1)
	go c.run(ctx, g.commits.Load()) // counted from now, not from when the goroutine first runs
	return c, nil
}

// run waits for commits and checkpoints, at most once per interval, until ctx ends
// (Close); last is the number of batches committed when it was started.
func (c *checkpointer) run(ctx context.Context, last int64) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.g.committed:
		}
		n := c.g.commits.Load()
		if n-last < c.everyCommits {
			continue
		}
		last = n
		c.passes.Add(1)
		if err := c.pass(ctx); err != nil && ctx.Err() == nil {
			c.log.WarnContext(ctx, "sqlite checkpoint failed; the writer's own checkpoint remains", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.interval):
		}
	}
}

// pass copies the log into the database file beside the writer and, when the log has
// reached restartFrames, copies the rest inside the writer's turn so that the next batch
// restarts it. Before taking the turn it copies again beside the writer, up to three times,
// while more than restartRemainder frames arrived during the copy before: the turn then
// waits for a short copy only.
func (c *checkpointer) pass(ctx context.Context) error {
	frames, err := c.checkpoint(ctx)
	if err != nil || frames < c.restartFrames {
		return err
	}
	for i := 0; i < 3; i++ {
		next, err := c.checkpoint(ctx)
		if err != nil {
			return err
		}
		arrived := next - frames
		if frames = next; arrived <= restartRemainder {
			break
		}
	}
	return c.g.exclusive(ctx, func() error {
		_, err := c.checkpoint(ctx)
		return err
	})
}

// checkpoint runs a PASSIVE checkpoint and returns the number of frames in the log when it
// began.
func (c *checkpointer) checkpoint(ctx context.Context) (frames int64, err error) {
	var busy, copied int64
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err == nil {
		if frames < c.lastFrames {
			c.restarts.Add(1)
		}
		c.lastFrames = frames
	}
	return frames, err
}

// Close stops the checkpointer and closes its connection (once; later calls return the
// first's result).
func (c *checkpointer) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		<-c.done
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}
