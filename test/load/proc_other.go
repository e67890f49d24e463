//go:build !linux

package load

import "errors"

// ReadProcStats samples process pid; only implemented on Linux.
func ReadProcStats(pid int) (ProcStats, error) {
	return ProcStats{}, errors.New("load: process statistics need Linux /proc")
}
