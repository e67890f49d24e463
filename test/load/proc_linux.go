package load

import (
	"fmt"
	"os"
	"strconv"
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
