package load

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
)

// ProcStats is what the harness samples of a server process on this machine (Linux
// /proc): its memory and thread count, and its open file descriptors. The servers
// publish no goroutine or event-loop metrics, so threads and descriptors are what can
// show a leak from outside.
type ProcStats struct {
	// RSS is the resident set size in bytes (VmRSS).
	RSS int64 `json:"rss_bytes"`
	// Threads is the number of OS threads (Go: roughly GOMAXPROCS plus those blocked in
	// system calls or cgo, such as SQLite's; not goroutines).
	Threads int `json:"threads"`
	// FDs is the number of open file descriptors (sockets, database files); -1 when
	// /proc/PID/fd was not readable.
	FDs int `json:"fds"`
}

// parseProcStatus reads VmRSS and Threads from the text of /proc/PID/status.
func parseProcStatus(raw []byte) (ProcStats, error) {
	var st ProcStats
	var haveRSS, haveThreads bool
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		f := bytes.Fields(val)
		switch string(key) {
		case "VmRSS":
			if len(f) != 2 || string(f[1]) != "kB" {
				return st, fmt.Errorf("load: VmRSS %q: want N kB", val)
			}
			n, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return st, fmt.Errorf("load: VmRSS: %w", err)
			}
			st.RSS, haveRSS = n*1024, true
		case "Threads":
			if len(f) != 1 {
				return st, fmt.Errorf("load: Threads %q", val)
			}
			n, err := strconv.Atoi(string(f[0]))
			if err != nil {
				return st, fmt.Errorf("load: Threads: %w", err)
			}
			st.Threads, haveThreads = n, true
		}
	}
	if !haveRSS || !haveThreads {
		return st, fmt.Errorf("load: no VmRSS or Threads in the process status (a zombie, or not Linux)")
	}
	return st, nil
}

// mib formats a size in bytes in MiB.
func mib(n int64) string {
	return fmt.Sprintf("%.1f", float64(n)/(1<<20))
}
