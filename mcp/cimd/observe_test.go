package cimd_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/fosite-mcp/fosite-mcp/mcp/cimd"
	"github.com/fosite-mcp/fosite-mcp/provider/observe"
)

// Every document fetch is reported to the Observer with its outcome (the
// fetches_total{kind="cimd"} metric); a fetch the SSRF guard refused is "blocked" and
// also an audit event naming the client ID, never the address it resolved to.
func TestResolver_ReportsFetches(t *testing.T) {
	d := newDocServer(t)
	id := d.url("/oauth/client.json")
	d.serve("/oauth/client.json", validDoc(id), "no-store")
	var mu sync.Mutex
	var got []observe.Event
	obs := observe.Func(func(_ context.Context, e observe.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
	})
	if _, err := d.resolver(t, &cimd.Options{Observer: obs}).ResolveClient(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	blocked := d.resolver(t, &cimd.Options{Observer: obs, AllowAddress: func(netip.Addr) bool { return false }})
	if _, err := blocked.ResolveClient(t.Context(), id); err == nil {
		t.Fatal("a loopback document was fetched without AllowAddress")
	}
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, e := range got {
		kinds = append(kinds, e.Kind.String()+":"+e.Outcome)
	}
	want := []string{"cimd_fetched:ok", "cimd_fetch_blocked:", "cimd_fetched:blocked"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
	if got[1].ClientID != id {
		t.Errorf("blocked event client_id %q, want %q", got[1].ClientID, id)
	}
}
