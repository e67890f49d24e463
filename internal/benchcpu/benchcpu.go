// Package benchcpu reports the CPU time a benchmark's process spends per operation
// (user + system, every thread: cgo, GC and the database driver included) as the metric
// "cpu-ns/op". On a machine shared with other work, wall-clock ns/op measures the queue
// for the cores as much as the code; the process's own CPU time does not.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Meter accumulates the process's CPU time while running.
type Meter struct {
	b       *testing.B
	total   time.Duration
	start   time.Duration
	running bool
}

// Start returns a running Meter for b. Call it where the timed part begins (after
// b.ResetTimer), Pause and Resume it around untimed work, and Report at the end.
func Start(b *testing.B) *Meter {
	m := &Meter{b: b}
	m.Resume()
	return m
}

// Pause stops accumulating (like b.StopTimer).
func (m *Meter) Pause() {
	if m.running {
		m.total += cpuTime() - m.start
		m.running = false
	}
}

// Resume accumulates again (like b.StartTimer).
func (m *Meter) Resume() {
	if !m.running {
		m.start = cpuTime()
		m.running = true
	}
}

// Report stops the Meter and reports the CPU time per operation as "cpu-ns/op".
func (m *Meter) Report() {
	m.Pause()
	if m.b.N > 0 {
		m.b.ReportMetric(float64(m.total.Nanoseconds())/float64(m.b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
