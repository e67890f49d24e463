package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/fosite-mcp/fosite-mcp/test/load"
)

// runCompare is mcp-auth-load compare: the same phases and levels on two running
// servers, one at a time, with one table per phase and level and the ratios.
func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcp-auth-load compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg load.Config
	ours := load.Side{Name: "ours"}
	model := load.Side{Name: "model"}
	fs.StringVar(&ours.MCPURL, "ours", "", "our server's MCP endpoint `URL` (required)")
	fs.IntVar(&ours.ServerPID, "ours-pid", 0, "our server's process `ID`, for its RSS")
	fs.StringVar(&ours.Target, "ours-target", load.TargetFositeMCP, "kind of our `server`")
	fs.Func("ours-helper-pid", "`PID` of a process whose CPU time (with its children's) counts as our server's, e.g. PostgreSQL's postmaster (repeatable)", pidList(&ours.HelperPIDs))
	fs.StringVar(&model.MCPURL, "model", "", "the model server's MCP endpoint `URL` (required)")
	fs.IntVar(&model.ServerPID, "model-pid", 0, "the model server's process `ID`, for its RSS")
	fs.StringVar(&model.Target, "model-target", load.TargetTSModel, "kind of the model `server`")
	h := harnessFlags(fs, &cfg, "initialize")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mcp-auth-load compare -ours URL -model URL [flags]\n\n"+
			"Runs each phase at each level on our server and on the model server (the TypeScript\n"+
			"mcp-oauth-server), one server at a time and alternating which goes first, and prints\n"+
			"both throughputs, p50/p99, the ratio and each server's RSS after the cell.\n"+
			"test/load/measure.sh compare starts both servers and runs it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := h.parse(fs, args, stderr); !ok {
		return code
	}
	if ours.MCPURL == "" || model.MCPURL == "" {
		fmt.Fprintln(stderr, "mcp-auth-load compare: -ours and -model are required")
		return 2
	}
	cmp, err := load.Compare(ctx, cfg, ours, model)
	if cmp == nil {
		fmt.Fprintln(stderr, "mcp-auth-load compare:", err)
		return 2
	}
	failed := false
	for _, c := range cmp.Cells {
		failed = failed || c.Ours.Errors > 0 || c.Model.Errors > 0
	}
	return h.report(cmp, cmp.WriteText, err, failed, stdout, stderr)
}

// pidList is a flag.Func that appends a process ID to pids.
func pidList(pids *[]int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q: not a process ID", s)
		}
		*pids = append(*pids, n)
		return nil
	}
}
