package storage

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with errors.Is; the broker maps
// them to Kafka error codes in one place.
var (
	// ErrOffsetOutOfRange is returned when an offset lies below the
	// LogStartOffset or above the LogEndOffset (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")

	// ErrClosed is returned by every method once Close or Delete has run.
	ErrClosed = errors.New("storage: log closed")

	// ErrLogFailed marks a log that hit an I/O error on a write or an
	// fsync. The log refuses all further work: data written before the
	// failure may not be durable, and retrying an fsync after a failure
	// can falsely report success (the kernel drops the dirty pages and
	// clears the error). The partition must go offline; reopening the
	// directory runs recovery. Errors wrap both ErrLogFailed and the cause.
	ErrLogFailed = errors.New("storage: log failed after an I/O error")

	// ErrInvalidBatch is returned by Append and AppendWithOffsets when the
	// input is not a sequence of complete, CRC-valid v2 record batches.
	ErrInvalidBatch = errors.New("storage: invalid record batch")

	// ErrNonMonotonicOffset is returned by AppendWithOffsets when a batch's
	// base offset is below the LogEndOffset or below the end of the
	// previous batch in the same call.
	ErrNonMonotonicOffset = errors.New("storage: non-monotonic batch offset")
)

// corruptionError marks data on disk that fails a check storage relies on
// (a batch header that does not parse inside a segment Read is walking, or
// a checkpoint file that does not parse).
type corruptionError struct {
	msg string
}

func (e *corruptionError) Error() string { return "storage: corruption: " + e.msg }

func corruptionf(format string, args ...any) error {
	return &corruptionError{msg: fmt.Sprintf(format, args...)}
}

// IsCorruption reports whether err, or any error it wraps, reports
// corrupt data on disk.
func IsCorruption(err error) bool {
	var c *corruptionError
	return errors.As(err, &c)
}
