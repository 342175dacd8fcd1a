package storage

import (
	"fmt"
	"math"
	"time"
)

// Config holds the per-topic settings of a Log. Every field carries the
// Kafka topic property it implements. SetConfig replaces it at run time.
type Config struct {
	// SegmentBytes is the size at which the active segment is rolled
	// (segment.bytes). Positions in the offset index are uint32, so it may
	// not exceed math.MaxInt32. Default 1 GiB.
	SegmentBytes int64

	// SegmentMs rolls the active segment once it is this old
	// (segment.ms), measured with the log's clock from the segment's
	// creation. Kafka measures from the first batch's timestamp, which
	// makes a producer with old timestamps roll a segment per append; the
	// creation time is not stored, so after Open the active segment's
	// age counts from its first batch's timestamp. Default 7 days.
	SegmentMs time.Duration

	// SegmentJitter subtracts a per-segment, deterministic amount in
	// [0, SegmentJitter) from SegmentMs so that partitions created together
	// do not all roll together (segment.jitter.ms). Default 0.
	SegmentJitter time.Duration

	// SegmentIndexBytes bounds each segment's offset index; the segment is
	// rolled before the index would exceed it (segment.index.bytes).
	// Default 10 MiB.
	SegmentIndexBytes int

	// IndexIntervalBytes is how many bytes of batches are appended between
	// two offset index entries (index.interval.bytes). Default 4096.
	IndexIntervalBytes int

	// RetentionMs deletes segments whose largest timestamp is older than
	// this (retention.ms). Negative means unlimited. Default 7 days.
	RetentionMs time.Duration

	// RetentionBytes deletes the oldest segments while the log is larger
	// than this (retention.bytes). Negative means unlimited. Default -1.
	RetentionBytes int64

	// FlushMessages fsyncs the log after this many messages (records) have
	// been appended since the last fsync (flush.messages). Default
	// math.MaxInt64, which never triggers.
	FlushMessages int64

	// FlushMs fsyncs the log when MaybeFlush runs and the last fsync is at
	// least this old (flush.ms). Default math.MaxInt64, which never
	// triggers.
	FlushMs time.Duration

	// FileDeleteDelay is how long the files of a deleted segment stay on
	// disk, renamed with the ".deleted" suffix, before they are removed
	// (file.delete.delay.ms). Removal happens in MaybeFlush and
	// EnforceRetention. Default 60 s.
	FileDeleteDelay time.Duration

	// PreallocateSegment is accepted for compatibility with
	// preallocate and ignored: segments grow with each write.
	PreallocateSegment bool

	// Compaction settings (see compact.go). Their zero values leave the
	// log delete-only, as before they existed; DefaultConfig sets
	// Kafka's defaults.

	// Compact is set when cleanup.policy contains "compact": Compact
	// then cleans the log.
	Compact bool

	// Delete is set when cleanup.policy contains "delete". It matters
	// only with Compact: a compact-only log ignores RetentionMs and
	// RetentionBytes, as in Kafka. Without Compact, retention applies
	// whatever Delete says.
	Delete bool

	// DeleteRetention is how long tombstones stay readable
	// (delete.retention.ms); see doc.go for the exact rule. Default 24 h.
	DeleteRetention time.Duration

	// MinCleanableDirtyRatio is the share of dirty bytes above which a
	// log is cleaned (min.cleanable.dirty.ratio). Default 0.5.
	MinCleanableDirtyRatio float64

	// MinCompactionLag keeps a segment out of cleaning while its largest
	// timestamp is younger than this (min.compaction.lag.ms). Default 0.
	MinCompactionLag time.Duration

	// MaxCompactionLag makes a log cleanable whatever its dirty ratio
	// once its oldest dirty batch is older than this, and caps segment.ms
	// (max.compaction.lag.ms). Default math.MaxInt64.
	MaxCompactionLag time.Duration
}

// DefaultConfig returns Kafka's defaults for every field.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		SegmentJitter:      0,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		RetentionMs:        7 * 24 * time.Hour,
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelay:    60 * time.Second,

		Delete:                 true,
		DeleteRetention:        24 * time.Hour,
		MinCleanableDirtyRatio: 0.5,
		MaxCompactionLag:       math.MaxInt64,
	}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < batchHeaderBytes || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("storage: segment.bytes %d out of range [%d, %d]", c.SegmentBytes, batchHeaderBytes, math.MaxInt32)
	case c.SegmentMs <= 0:
		return fmt.Errorf("storage: segment.ms %v must be positive", c.SegmentMs)
	case c.SegmentJitter < 0:
		return fmt.Errorf("storage: segment.jitter.ms %v must not be negative", c.SegmentJitter)
	case c.SegmentIndexBytes < offsetEntryBytes:
		return fmt.Errorf("storage: segment.index.bytes %d must be at least %d", c.SegmentIndexBytes, offsetEntryBytes)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("storage: index.interval.bytes %d must not be negative", c.IndexIntervalBytes)
	case c.FlushMessages <= 0:
		return fmt.Errorf("storage: flush.messages %d must be positive", c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("storage: flush.ms %v must not be negative", c.FlushMs)
	case c.FileDeleteDelay < 0:
		return fmt.Errorf("storage: file.delete.delay.ms %v must not be negative", c.FileDeleteDelay)
	}
	return c.validateCompaction()
}

// maxOffsetEntries is how many offset index entries fit in
// SegmentIndexBytes.
func (c Config) maxOffsetEntries() int { return c.SegmentIndexBytes / offsetEntryBytes }

// maxTimeEntries is how many time index entries fit in SegmentIndexBytes.
func (c Config) maxTimeEntries() int { return c.SegmentIndexBytes / timeEntryBytes }
