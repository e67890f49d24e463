package main

import (
	"flag"
	"fmt"
	"math"
	"runtime/debug"
)

// The demo's garbage collector policy, used when the environment does not set Go's own
// (GOGC, GOMEMLIMIT) and no flag overrides it. Go's default (GOGC=100, no limit) collects
// whenever the heap doubles: under load the collector took about a quarter of the demo's
// CPU in the bearer phase (go-sdk allocates a 32 KiB decoder buffer per JSON-RPC
// message). Collecting at five times the live heap spends far less CPU on it for a few
// tens of MiB more, and the soft memory limit bounds that growth: near the limit the
// collector runs as often as it must (it is soft, so the process is never killed for it).
const (
	// defaultGCPercent is -gc-percent's default (GOGC=400).
	defaultGCPercent = 400
	// defaultMemoryLimitMiB is -memory-limit's default (GOMEMLIMIT=32MiB).
	defaultMemoryLimitMiB = 32
)

// gcPolicy is the -gc-percent and -memory-limit flags and whether each was given.
type gcPolicy struct {
	percent    int   // debug.SetGCPercent; negative turns the collector off but for the limit
	limitMiB   int64 // debug.SetMemoryLimit in MiB; 0: no limit
	percentSet bool  // -gc-percent was given
	limitSet   bool  // -memory-limit was given
}

// register adds the policy's flags to fs.
func (g *gcPolicy) register(fs *flag.FlagSet) {
	fs.IntVar(&g.percent, "gc-percent", defaultGCPercent, "Go's garbage collection target `percent` (debug.SetGCPercent, like GOGC): collect when the heap has grown by this much since the last collection; negative turns collection off but for -memory-limit. Without the flag, GOGC when it is set, else this default")
	fs.Int64Var(&g.limitMiB, "memory-limit", defaultMemoryLimitMiB, "Go's soft memory limit in `MiB` (debug.SetMemoryLimit, like GOMEMLIMIT): near it the collector runs more often whatever -gc-percent says; 0 for none. Without the flag, GOMEMLIMIT when it is set, else this default")
}

// noted records which of the policy's flags fs was given (call after fs.Parse).
func (g *gcPolicy) noted(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "gc-percent":
			g.percentSet = true
		case "memory-limit":
			g.limitSet = true
		}
	})
}

// apply sets the process's collector: each setting from its flag when given, else from
// Go's environment variable when lookupEnv finds it (the runtime already applied it),
// else the demo's default. It returns the settings and their sources, for the log.
func (g gcPolicy) apply(lookupEnv func(string) (string, bool)) (percent, limit string) {
	percent, limit = "GOGC="+envOr(lookupEnv, "GOGC"), "GOMEMLIMIT="+envOr(lookupEnv, "GOMEMLIMIT")
	if _, env := lookupEnv("GOGC"); g.percentSet || !env {
		debug.SetGCPercent(g.percent)
		percent = fmt.Sprintf("%d (%s)", g.percent, source(g.percentSet))
	}
	if _, env := lookupEnv("GOMEMLIMIT"); g.limitSet || !env {
		bytes := int64(math.MaxInt64)
		limit = "none (" + source(g.limitSet) + ")"
		if g.limitMiB > 0 {
			bytes = min(g.limitMiB, math.MaxInt64>>20) << 20
			limit = fmt.Sprintf("%d MiB (%s)", g.limitMiB, source(g.limitSet))
		}
		debug.SetMemoryLimit(bytes)
	}
	return percent, limit
}

func envOr(lookupEnv func(string) (string, bool), name string) string {
	v, _ := lookupEnv(name)
	return v
}

func source(flagGiven bool) string {
	if flagGiven {
		return "flag"
	}
	return "demo default"
}
