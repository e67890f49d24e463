package teststack

import (
	"net/http"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/internal/benchcpu"
)

// BenchInitialize is test/load's bearer phase as a benchmark loop: b.N times an MCP
// initialize to url with token, then the DELETE of the session it opened (none when the
// server is stateless), reporting allocations and CPU per pair. The SDK adapters'
// benchmarks share it, so that their numbers compare.
func BenchInitialize(b *testing.B, url, token string) {
	body := InitializeBody("bench")
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchcpu.Start(b)
	defer cpu.Report()
	for i := 0; i < b.N; i++ {
		status, sid, resp, err := Post(url, token, "", body)
		if err != nil || status != http.StatusOK {
			b.Fatalf("initialize: %d %v %.200s", status, err, resp)
		}
		if sid == "" {
			continue
		}
		req, err := http.NewRequest(http.MethodDelete, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Mcp-Session-Id", sid)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode >= 300 {
			b.Fatalf("DELETE: %d", r.StatusCode)
		}
	}
}
