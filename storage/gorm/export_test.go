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

// MigrateTo brings s's schema to version upTo, not beyond: an older database for the
// upgrade tests.
func MigrateTo(s *Store, ctx context.Context, upTo int) error {
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return tx.Error
	}
	if _, err := s.migrate(tx, upTo); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit().Error
}
