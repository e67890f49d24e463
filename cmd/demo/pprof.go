package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
)

// servePprof serves Go's runtime profiles (net/http/pprof: CPU, heap, goroutines,
// mutex, block, trace) on their own listener at addr until ctx ends, for profiling the
// demo under load (-pprof; test/load/README.md shows how). The listener must be on a
// loopback address: the profiles reveal memory contents and cost CPU, so they are never
// reachable from the network, and they are never on the demo's own port. It returns once
// the listener is bound (or failed to bind); the server runs in the background.
func servePprof(ctx context.Context, addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-pprof %q: %w", addr, err)
	}
	if !loopback.IsHost(host) {
		return fmt.Errorf("-pprof %q: want a loopback address such as 127.0.0.1:6060", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	log.Warn("pprof profiles are served (development only)", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}
