package main

import (
	"io"
	"runtime/debug"
	"testing"
)

// currentGC returns the process's GC percent and soft memory limit without changing them.
func currentGC() (int, int64) {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p, debug.SetMemoryLimit(-1)
}

// The demo's GC policy: its defaults (GOGC=400, GOMEMLIMIT=32MiB) when the environment
// sets neither, Go's environment variables when set, and the flags over both.
func TestGCPolicy_DefaultsEnvironmentAndFlags(t *testing.T) {
	p0, l0 := currentGC()
	t.Cleanup(func() { debug.SetGCPercent(p0); debug.SetMemoryLimit(l0) })
	parse := func(args ...string) gcPolicy {
		t.Helper()
		f, err := parseServeFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return f.gc
	}
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}

	percent, limit := parse().apply(env(nil))
	if p, l := currentGC(); p != defaultGCPercent || l != defaultMemoryLimitMiB<<20 {
		t.Errorf("no flags, no environment: GC percent %d, limit %d; want %d, %d MiB", p, l, defaultGCPercent, defaultMemoryLimitMiB)
	}
	if percent != "400 (demo default)" || limit != "32 MiB (demo default)" {
		t.Errorf("logged %q, %q", percent, limit)
	}

	// GOGC and GOMEMLIMIT in the environment: the runtime applied them; the demo keeps them.
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(100 << 20)
	percent, limit = parse().apply(env(map[string]string{"GOGC": "150", "GOMEMLIMIT": "100MiB"}))
	if p, l := currentGC(); p != 150 || l != 100<<20 {
		t.Errorf("environment: GC percent %d, limit %d; want GOGC's 150 and GOMEMLIMIT's 100 MiB kept", p, l)
	}
	if percent != "GOGC=150" || limit != "GOMEMLIMIT=100MiB" {
		t.Errorf("logged %q, %q", percent, limit)
	}

	// Flags win over the environment; -memory-limit 0 is no limit.
	parse("-gc-percent", "200", "-memory-limit", "0").apply(env(map[string]string{"GOGC": "150", "GOMEMLIMIT": "100MiB"}))
	if p, l := currentGC(); p != 200 || l != 1<<63-1 {
		t.Errorf("flags: GC percent %d, limit %d; want 200 and none", p, l)
	}

	if _, err := parseServeFlags([]string{"-memory-limit", "-1"}, io.Discard); err == nil {
		t.Error("-memory-limit -1 accepted")
	}
}
