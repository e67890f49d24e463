// Package conformance is a black-box conformance suite for MCP authorization: it checks
// an MCP server (the OAuth protected resource) and its authorization server against the
// MCP authorization specification (revisions 2025-06-18, 2025-11-25 and 2026-07-28) and
// the RFCs it builds on, speaking nothing but HTTP to them.
//
// Given only the MCP endpoint's URL, Run discovers everything the way an MCP client
// does (401 challenge → protected resource metadata → authorization server metadata),
// registers its own test clients through dynamic client registration when the server
// offers it (or uses a pre-registered client), drives logins through a LoginDriver and
// records one Result per Check: pass, fail (a MUST is violated), warn (a SHOULD is
// violated) or skip, each with the evidence (request line, status, offending header or
// field) and the section of the specification it comes from.
//
//	report := conformance.Run(ctx, conformance.Target{MCPURL: "https://mcp.example.com/mcp"})
//	report.WriteText(os.Stdout, nil)
//	if report.Failed() { … }
//
// Against a real deployment the suite never does anything destructive beyond creating
// its own test clients (which it deletes again through RFC 7592 when the server offers
// it) and revoking its own tokens. It does not call tools: the only MCP requests it
// sends are initialize requests, a ping within a session, and DELETEs of the sessions
// they open. The real-client checks log in with the go-sdk and mcp-go clients, whose own
// registrations stay behind.
//
// The command test/conformance/cmd/mcp-auth-conformance runs the suite from the command
// line.
package conformance
