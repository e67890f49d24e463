//go:build !linux

package load

import "time"

// cpuSample is a point in time for CPU accounting (Linux only).
type cpuSample struct {
	self, machine time.Duration
	ok            bool
}

// sampleCPU is not implemented outside Linux.
func sampleCPU() cpuSample { return cpuSample{} }
