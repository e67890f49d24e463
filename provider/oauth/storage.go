package oauth

import "errors"

// ErrStorageUnavailable marks a storage failure that says nothing about the request: the
// database is unreachable, did not answer in time, is locked past its busy timeout or is
// read-only. Storage implementations wrap such driver errors with it (storage/gorm does).
// The authorization server then answers 503 temporarily_unavailable with Retry-After
// instead of a credential error, so that a database outage does not log every client
// out; a token verifier's error wraps it too, for resource servers to answer 503.
var ErrStorageUnavailable = errors.New("storage unavailable")

// RetryAfterStorage is the Retry-After header value, in seconds, of the 503 answers to
// storage failures: long enough for a database restart or failover not to be hammered
// by every client, short enough for a blip to pass unnoticed.
const RetryAfterStorage = "2"
