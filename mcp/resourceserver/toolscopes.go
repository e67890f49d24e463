package resourceserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// MaxToolScopesBody is how much of a request body [ToolScopes] reads. A larger body is
// treated as a call of every listed tool (fail closed).
const MaxToolScopesBody = 4 << 20

// ToolScopes returns a [BearerOptions.OperationScopes] function for servers whose tools
// need different scopes: a POSTed JSON-RPC "tools/call" (alone or in a batch) naming a
// tool in scopes needs that tool's scopes, so a token without them gets 403
// insufficient_scope naming them and the client can step up. Other requests need nothing
// extra.
//
// The body is read (up to [MaxToolScopesBody]) and restored for the handler. The reading
// is deliberately suspicious, since the MCP server parses the body again with its own
// JSON decoder: member names are matched case-insensitively and every duplicate counts,
// and a body that cannot be parsed or is too large requires the scopes of every listed
// tool.
//
//	resourceserver.BearerOptions{
//		Resource:        "https://mcp.example.com/mcp",
//		Scopes:          []string{"files:read"},
//		OperationScopes: resourceserver.ToolScopes(map[string][]string{"delete_file": {"files:write"}}),
//	}
func ToolScopes(scopes map[string][]string) func(*http.Request) []string {
	table := make(map[string][]string, len(scopes))
	var all []string // every tool's scopes, in tool name order
	for _, tool := range slices.Sorted(maps.Keys(scopes)) {
		table[tool] = unionScopes(scopes[tool])
		all = unionScopes(all, scopes[tool])
	}
	return func(r *http.Request) []string {
		if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
			return nil
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxToolScopesBody+1))
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		if err != nil || len(body) > MaxToolScopesBody {
			return all
		}
		if !mayCallTool(body) {
			return nil
		}
		names, err := toolCallNames(body)
		if err != nil {
			return all
		}
		var need []string
		for _, n := range names {
			need = unionScopes(need, table[n])
		}
		return need
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

var errNotJSONRPC = errors.New("not a JSON-RPC message or batch")

// toolsCall is the method whose messages name tools.
const toolsCall = "tools/call"

// mayCallTool reports whether body may hold a tools/call message for some JSON decoder:
// whether it has an escape (a string's bytes may then differ from its value) or "tools/call"
// in any case. Without either, no string in it is "tools/call" (in any case), and parsing
// it cannot find a tool: most requests (initialize, tools/list, notifications) skip the
// parse (about 5 % of the demo's CPU under bearer load).
func mayCallTool(body []byte) bool {
	if bytes.IndexByte(body, '\\') >= 0 {
		return true
	}
	for i := 0; i+len(toolsCall) <= len(body); i++ {
		if c := body[i]; (c == 't' || c == 'T') && bytes.EqualFold(body[i:i+len(toolsCall)], []byte(toolsCall)) {
			return true
		}
	}
	return false
}

// toolCallNames returns the params.name values of the tools/call messages in a JSON-RPC
// message or batch. A message counts as tools/call when any "method" member (any case)
// says so; every "name" member (any case) of every "params" member (any case) counts.
func toolCallNames(body []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	var names []string
	switch tok {
	case json.Delim('{'):
		if names, err = messageNames(dec); err != nil {
			return nil, err
		}
	case json.Delim('['):
		for dec.More() {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				return nil, errNotJSONRPC
			}
			n, err := messageNames(dec)
			if err != nil {
				return nil, err
			}
			names = append(names, n...)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
	default:
		return nil, errNotJSONRPC
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotJSONRPC
	}
	return names, nil
}

// messageNames reads one message object (after its '{') and returns its tool names if it
// is a tools/call.
func messageNames(dec *json.Decoder) ([]string, error) {
	isCall := false
	var names []string
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.EqualFold(key, "method"):
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			if s, ok := tok.(string); ok && strings.EqualFold(s, toolsCall) {
				isCall = true
			} else if d, ok := tok.(json.Delim); ok {
				if err := skipRest(dec, d); err != nil {
					return nil, err
				}
			}
		case strings.EqualFold(key, "params"):
			n, err := paramsNames(dec)
			if err != nil {
				return nil, err
			}
			names = append(names, n...)
		default:
			if err := skipValue(dec); err != nil {
				return nil, err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	if !isCall {
		return nil, nil
	}
	return names, nil
}

// paramsNames reads a params value and returns the string values of its name members.
func paramsNames(dec *json.Decoder) ([]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil, nil
	}
	if d != '{' {
		return nil, skipRest(dec, d)
	}
	var names []string
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(key, "name") {
			if err := skipValue(dec); err != nil {
				return nil, err
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch v := tok.(type) {
		case string:
			names = append(names, v)
		case json.Delim:
			if err := skipRest(dec, v); err != nil {
				return nil, err
			}
		}
	}
	_, err = dec.Token() // '}'
	return names, err
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok {
		return "", errNotJSONRPC
	}
	return key, nil
}

// skipValue skips the next value.
func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok {
		return skipRest(dec, d)
	}
	return nil
}

// skipRest skips to the end of the array or object opened by d.
func skipRest(dec *json.Decoder, d json.Delim) error {
	if d != '{' && d != '[' {
		return errNotJSONRPC
	}
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}
