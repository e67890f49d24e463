package gormstore

import (
	"context"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// IssueInOneStatement exposes IssueTokens' one-statement path to the external tests: it
// reports whether that statement consumed the code or refresh token (and wrote the rest).
func IssueInOneStatement(s *Store, ctx context.Context, iss provider.TokenIssue) (bool, error) {
	return s.issueInOneStatement(ctx, iss)
}
