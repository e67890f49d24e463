package provider

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxSubjectBytes bounds a subject, the user an approval or an identity assertion names:
// it is stored and indexed with the user's grants, and an index entry holds a few
// kilobytes at most (PostgreSQL's: 2704 bytes).
const MaxSubjectBytes = 1024

// ValidateSubject checks a subject before anything is recorded for it: not empty, valid
// UTF-8 without NUL (stored alike by both databases), at most MaxSubjectBytes. Approve,
// what AutoApprove returns, ApproveDevice and identity assertion subject mappings are
// checked with it, so that an operator's hook that returns such a subject gets an error
// naming it rather than a database failure.
func ValidateSubject(subject string) error {
	switch {
	case subject == "":
		return errors.New("the subject is empty")
	case !utf8.ValidString(subject) || strings.ContainsRune(subject, 0):
		return errors.New("the subject is not valid UTF-8 without NUL")
	case len(subject) > MaxSubjectBytes:
		return fmt.Errorf("the subject is longer than %d bytes", MaxSubjectBytes)
	}
	return nil
}
