package main

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fosite-mcp/fosite-mcp/mcp/gosdk"
)

// Scopes of the demo MCP server.
const (
	// scopeTools is needed for every MCP request (whoami, echo, listing tools).
	scopeTools = "demo:tools"
	// scopeAdmin is needed by the stats tool only: calling it with a token without it
	// gets 403 insufficient_scope, and the client steps up (asks the user again for the
	// wider scope).
	scopeAdmin = "demo:admin"
)

// scopeDescriptions are shown on the consent page.
var scopeDescriptions = map[string]string{
	scopeTools: "Use the demo tools: see who you are (whoami) and echo messages.",
	scopeAdmin: "Read the server's statistics (the stats tool).",
}

// demoTools describe the tools on the home page; the scope is the extra one a tool needs.
var demoTools = []toolView{
	{Name: "whoami", Description: "Who is calling: subject, client, scopes, resource and token expiry."},
	{Name: "echo", Description: "Sends your text back."},
	{Name: "stats", Description: "Server statistics.", Scope: scopeAdmin},
}

// toolScopes are the extra scopes per tool, for resourceserver.ToolScopes.
var toolScopes = map[string][]string{"stats": {scopeAdmin}}

// WhoamiOutput is the whoami tool's result. It describes the access token, never
// containing it.
type WhoamiOutput struct {
	Subject   string   `json:"subject" jsonschema:"the user the token was issued for"`
	ClientID  string   `json:"client_id" jsonschema:"the OAuth client the token was issued to"`
	Scopes    []string `json:"scopes" jsonschema:"the granted scopes"`
	Resource  []string `json:"resource" jsonschema:"the resources (RFC 8707 audience) the token is bound to"`
	IssuedAt  string   `json:"issued_at" jsonschema:"when the token was issued (RFC 3339)"`
	ExpiresAt string   `json:"expires_at" jsonschema:"when the token expires (RFC 3339)"`
	ExpiresIn int64    `json:"expires_in" jsonschema:"seconds until the token expires"`
}

// EchoInput is the echo tool's argument.
type EchoInput struct {
	Text string `json:"text" jsonschema:"the text to send back"`
}

// EchoOutput is the echo tool's result.
type EchoOutput struct {
	Text string `json:"text" jsonschema:"the text that was sent"`
}

// StatsOutput is the stats tool's result.
type StatsOutput struct {
	StartedAt     string `json:"started_at" jsonschema:"when the server started (RFC 3339)"`
	UptimeSeconds int64  `json:"uptime_seconds" jsonschema:"seconds since the server started"`
	ToolCalls     int64  `json:"tool_calls" jsonschema:"tool calls served since the start"`
	GoVersion     string `json:"go_version" jsonschema:"the Go version of the server"`
}

var errNoToken = errors.New("no verified access token in the request")

// newMCPServer returns the demo's go-sdk MCP server.
func newMCPServer(started time.Time, calls *atomic.Int64) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "fosite-mcp-demo", Title: "fosite-mcp demo", Version: "1.0.0"},
		&sdk.ServerOptions{Instructions: "A demo MCP server behind OAuth 2.1. Try whoami."})
	sdk.AddTool(s, &sdk.Tool{
		Name:        "whoami",
		Description: "Describes the caller's access token: subject, client ID, scopes, resource and expiry (never the token itself).",
		Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, WhoamiOutput, error) {
		calls.Add(1)
		at, ok := gosdk.AccessToken(req.Extra.TokenInfo)
		if !ok {
			return nil, WhoamiOutput{}, errNoToken
		}
		return nil, WhoamiOutput{
			Subject:   at.Subject,
			ClientID:  at.ClientID,
			Scopes:    nonNil(at.Scopes),
			Resource:  nonNil(at.Audience),
			IssuedAt:  at.IssuedAt.UTC().Format(time.RFC3339),
			ExpiresAt: at.ExpiresAt.UTC().Format(time.RFC3339),
			ExpiresIn: int64(time.Until(at.ExpiresAt).Seconds()),
		}, nil
	})
	sdk.AddTool(s, &sdk.Tool{
		Name:        "echo",
		Description: "Sends the text back.",
		Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *sdk.CallToolRequest, in EchoInput) (*sdk.CallToolResult, EchoOutput, error) {
		calls.Add(1)
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: in.Text}}}, EchoOutput(in), nil
	})
	sdk.AddTool(s, &sdk.Tool{
		Name:        "stats",
		Description: "Server statistics. Needs the " + scopeAdmin + " scope: without it the server answers 403 insufficient_scope and MCP clients ask the user for it (step-up authorization).",
		Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, StatsOutput, error) {
		// The bearer middleware already refused tokens without the scope (403, so that
		// clients step up); checking again here costs nothing.
		if at, ok := gosdk.AccessToken(req.Extra.TokenInfo); !ok || !slices.Contains(at.Scopes, scopeAdmin) {
			return nil, StatsOutput{}, errors.New("the stats tool needs the " + scopeAdmin + " scope")
		}
		n := calls.Add(1)
		return nil, StatsOutput{
			StartedAt:     started.UTC().Format(time.RFC3339),
			UptimeSeconds: int64(time.Since(started).Seconds()),
			ToolCalls:     n,
			GoVersion:     runtime.Version(),
		}, nil
	})
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
