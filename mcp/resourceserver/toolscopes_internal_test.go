package resourceserver

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestToolCallNames(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"tools/call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete","arguments":{"name":"x"}}}`, []string{"delete"}, false},
		{"params before method", `{"params":{"name":"delete"},"method":"tools/call","id":1}`, []string{"delete"}, false},
		{"other method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"delete"}}`, nil, false},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, false},
		{"batch", `[{"method":"tools/list"},{"method":"tools/call","params":{"name":"a"}},{"method":"tools/call","params":{"name":"b"}}]`, []string{"a", "b"}, false},
		{"case-insensitive keys", `{"METHOD":"tools/call","Params":{"NAME":"delete"}}`, []string{"delete"}, false},
		{"method value case", `{"method":"TOOLS/CALL","params":{"name":"delete"}}`, []string{"delete"}, false},
		{"duplicate names all count", `{"method":"tools/call","params":{"name":"read","name":"delete"}}`, []string{"read", "delete"}, false},
		{"duplicate methods: any tools/call counts", `{"method":"tools/list","method":"tools/call","params":{"name":"delete"}}`, []string{"delete"}, false},
		{"escaped key", `{"method":"tools/call","params":{"n\u0061me":"delete"}}`, []string{"delete"}, false},
		{"non-string name ignored", `{"method":"tools/call","params":{"name":{"x":"delete"}}}`, nil, false},
		{"params array", `{"method":"tools/call","params":["delete"]}`, nil, false},
		{"malformed", `{"method":"tools/call","params":{"name":"delete"}`, nil, true},
		{"trailing data", `{"method":"tools/call"} {"method":"tools/call"}`, nil, true},
		{"not an object", `"tools/call"`, nil, true},
		{"batch of non-objects", `[1]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toolCallNames([]byte(tt.body))
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("toolCallNames = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestMayCallTool: only a body with "tools/call" in some case, or with an escape that may
// spell it, is parsed for tool names.
func TestMayCallTool(t *testing.T) {
	for body, want := range map[string]bool{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`: false,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`:                                   false,
		`{"method":"tools/list"}`:                     false,
		`{"method":"tools/call"}`:                     true,
		`{"method":"TOOLS/Call"}`:                     true,
		`[{"method":"ping"},{"method":"tools/cAll"}]`: true,
		`{"method":"tools\/call"}`:                    true,
		`{"method":"\u0074ools/call"}`:                true,
		`{"method":"tools/cal"}`:                      false,
		`tools/call`:                                  true,
		``:                                            false,
	} {
		if got := mayCallTool([]byte(body)); got != want {
			t.Errorf("mayCallTool(%s) = %v; want %v", body, got, want)
		}
	}
}

// FuzzToolCallNames: never panics, and never misses a tool that encoding/json (what
// mcp-go decodes with: case-insensitive, last duplicate wins) would call.
func FuzzToolCallNames(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete"}}`))
	f.Add([]byte(`[{"method":"tools/call","params":{"name":"a"}}]`))
	f.Add([]byte(`{"Method":"tools/call","PARAMS":{"Name":"x","name":"y"}}`))
	f.Add([]byte(`{"method":"tools/call","params":{"name":"\u0064elete"}}`))
	f.Add([]byte(`{"method":"tools\/call","params":{"name":"delete"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var any struct{ Method string }
		if !mayCallTool(body) && json.Unmarshal(body, &any) == nil && strings.EqualFold(any.Method, "tools/call") {
			t.Fatalf("mayCallTool skips %s, which encoding/json reads as a tools/call", body)
		}
		names, err := toolCallNames(body)
		if err != nil {
			return // ToolScopes then requires every tool's scopes
		}
		var msg struct {
			Method string
			Params struct{ Name string }
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" && msg.Params.Name != "" && !slices.Contains(names, msg.Params.Name) {
			t.Fatalf("encoding/json calls %q, toolCallNames found %q in %s", msg.Params.Name, names, body)
		}
		var batch []struct {
			Method string
			Params struct{ Name string }
		}
		if json.Unmarshal(body, &batch) == nil {
			for _, m := range batch {
				if strings.EqualFold(m.Method, "tools/call") && m.Params.Name != "" && !slices.Contains(names, m.Params.Name) {
					t.Fatalf("batch calls %q, toolCallNames found %q in %s", m.Params.Name, names, body)
				}
			}
		}
	})
}
