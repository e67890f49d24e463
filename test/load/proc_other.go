//go:build !linux

package load

import (
	"errors"
	"time"
)

// ReadProcStats samples process pid; only implemented on Linux.
func ReadProcStats(pid int) (ProcStats, error) {
	return ProcStats{}, errors.New("load: process statistics need Linux /proc")
}

// ProcessCPU is the CPU time of processes; only implemented on Linux.
func ProcessCPU(pids []int, withChildren bool) (time.Duration, error) {
	return 0, errors.New("load: process statistics need Linux /proc")
}
