package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// TextOptions configure WriteText.
type TextOptions struct {
	// Verbose shows the evidence of passing checks too (by default only of fail, warn
	// and skip).
	Verbose bool
}

// WriteText writes the report as a table grouped by area, with the detail and evidence
// of every failure, warning and skip, and a summary line.
func (r Report) WriteText(w io.Writer, opts *TextOptions) error {
	if opts == nil {
		opts = &TextOptions{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "MCP authorization conformance: %s\n", r.MCPURL)
	if r.Issuer != "" {
		fmt.Fprintf(&b, "authorization server: %s\n", r.Issuer)
	}
	idWidth := 0
	for _, res := range r.Results {
		idWidth = max(idWidth, len(res.ID))
	}
	for _, area := range Areas() {
		fmt.Fprintf(&b, "\n%s\n", area)
		for _, res := range r.Results {
			if res.Area != area {
				continue
			}
			fmt.Fprintf(&b, "  %s  %-*s  %-6s  %s\n", statusLabel(res.Status), idWidth, res.ID, res.Level, res.Title)
			if res.Status == Pass && !opts.Verbose {
				continue
			}
			if res.Detail != "" {
				fmt.Fprintf(&b, "        %s\n", res.Detail)
			}
			if res.Status == Fail || res.Status == Warn {
				fmt.Fprintf(&b, "        source: %s\n", res.Source)
			}
			for _, e := range res.Evidence {
				fmt.Fprintf(&b, "        > %s\n", e)
			}
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d checks: %d passed, %d failed, %d warnings, %d skipped (%s)\n",
		s.Total, s.Pass, s.Fail, s.Warn, s.Skip, r.Duration.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

func statusLabel(s Status) string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "FAIL"
	case Warn:
		return "WARN"
	default:
		return "skip"
	}
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
