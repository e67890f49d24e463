package load

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"time"
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

// clockTick is USER_HZ, the unit of /proc/stat and /proc/PID/stat: 100 on every Linux
// architecture Go supports.
const clockTick = 100

// procStat is what the harness reads of /proc/PID/stat: the parent's process ID and the
// CPU time the process and its reaped children used.
type procStat struct {
	ppid int
	cpu  time.Duration
}

// parseProcStat reads the parent PID (field 4) and utime + stime + cutime + cstime
// (fields 14 to 17, in clock ticks of 1/100 s) from the text of /proc/PID/stat. The
// command name (field 2, in parentheses) may contain spaces and parentheses: the fields
// after it are counted from its last ')'.
func parseProcStat(raw []byte) (procStat, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("load: process stat %q: no command name", truncate(string(raw)))
	}
	f := bytes.Fields(raw[i+1:]) // f[0] is field 3, the state
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("load: process stat: %d fields", len(f)+2)
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("load: process stat: parent PID: %w", err)
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("load: process stat: CPU time: %w", err)
		}
		ticks += n
	}
	return procStat{ppid: ppid, cpu: time.Duration(ticks) * time.Second / clockTick}, nil
}

// mib formats a size in bytes in MiB.
func mib(n int64) string {
	return fmt.Sprintf("%.1f", float64(n)/(1<<20))
}
