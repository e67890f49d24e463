package load

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// ReadProcStats samples process pid from /proc.
func ReadProcStats(pid int) (ProcStats, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcStats{}, fmt.Errorf("load: server process %d: %w", pid, err)
	}
	st, err := parseProcStatus(raw)
	if err != nil {
		return st, err
	}
	st.FDs = -1
	if fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err == nil {
		st.FDs = len(fds)
	}
	return st, nil
}

// ProcessCPU is the CPU time the processes pids used so far, each with its children:
// the reaped ones (counted in the parent's stat) and, when withChildren, the live ones
// (a PostgreSQL postmaster's backends).
func ProcessCPU(pids []int, withChildren bool) (time.Duration, error) {
	var total time.Duration
	want := map[int]bool{}
	for _, pid := range pids {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return 0, fmt.Errorf("load: process %d: %w", pid, err)
		}
		st, err := parseProcStat(raw)
		if err != nil {
			return 0, err
		}
		total += st.cpu
		want[pid] = true
	}
	if !withChildren {
		return total, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || want[pid] {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if st, err := parseProcStat(raw); err == nil && want[st.ppid] {
			total += st.cpu
		}
	}
	return total, nil
}
