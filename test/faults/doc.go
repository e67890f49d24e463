// Package faults holds the storage fault tests (issue 14): a PostgreSQL cluster stopped
// in the middle of a load run and restarted, a SQLite file locked past the busy timeout
// or read-only, and three replicas sharing one PostgreSQL. They drive the real stack
// (mcp.New over storage/gorm, several replicas on loopback listeners, and the demo
// binary) over HTTP and check what clients see: during an outage every answer is a
// success or a 503 temporarily_unavailable with Retry-After — never a credential error
// (invalid_client, invalid_grant, invalid_token), another 5xx, or a panic — and after it
// the same processes serve again and every grant still works.
package faults
