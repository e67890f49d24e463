package load

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// cpuSample is a point in time for CPU accounting: the harness process's CPU time and
// the CPU time every core of the machine spent busy (not idle or waiting for I/O).
type cpuSample struct {
	self, machine time.Duration
	ok            bool
}

// sampleCPU reads getrusage(RUSAGE_SELF) and /proc/stat.
func sampleCPU() cpuSample {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return cpuSample{}
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	f := bytes.Fields(line)
	// cpu user nice system idle iowait irq softirq steal …
	if len(f) < 9 || string(f[0]) != "cpu" {
		return cpuSample{}
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return cpuSample{}
		}
		busy += n
	}
	return cpuSample{self: self, machine: time.Duration(busy) * time.Second / clockTick, ok: true}
}
