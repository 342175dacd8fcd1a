package storage

import (
	"fmt"
	"math"
	"time"
)

// validateCompaction checks the compaction block of Config. The zero
// values pass, so that a Config built without DefaultConfig stays a
// delete-only log; the lag bounds are checked only when Compact is set.
func (c Config) validateCompaction() error {
	switch {
	case c.DeleteRetention < 0:
		return fmt.Errorf("storage: delete.retention.ms %v must not be negative", c.DeleteRetention)
	case math.IsNaN(c.MinCleanableDirtyRatio) || c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1:
		return fmt.Errorf("storage: min.cleanable.dirty.ratio %v out of range [0, 1]", c.MinCleanableDirtyRatio)
	case c.MinCompactionLag < 0:
		return fmt.Errorf("storage: min.compaction.lag.ms %v must not be negative", c.MinCompactionLag)
	case c.Compact && c.MaxCompactionLag <= 0:
		return fmt.Errorf("storage: max.compaction.lag.ms %v must be positive", c.MaxCompactionLag)
	case c.Compact && c.MaxCompactionLag < c.MinCompactionLag:
		// Kafka's LogConfig refuses the same combination.
		return fmt.Errorf("storage: max.compaction.lag.ms %v is below min.compaction.lag.ms %v", c.MaxCompactionLag, c.MinCompactionLag)
	}
	return nil
}

// retentionApplies reports whether retention.ms and retention.bytes
// apply: always, unless cleanup.policy is "compact" alone (Kafka's
// UnifiedLog.deleteOldSegments). Deletion below the LogStartOffset
// applies to every log.
func (c *Config) retentionApplies() bool { return !c.Compact || c.Delete }

// rollMs is the age at which the active segment is rolled: segment.ms,
// or max.compaction.lag.ms when that is smaller and the log is
// compacted, so that records in the active segment become cleanable
// within the lag (Kafka's LogConfig.maxSegmentMs).
func (c *Config) rollMs() time.Duration {
	if c.Compact && c.MaxCompactionLag > 0 && c.MaxCompactionLag < c.SegmentMs {
		return c.MaxCompactionLag
	}
	return c.SegmentMs
}

// CleanerConfig holds the broker-wide settings of one cleaner thread.
type CleanerConfig struct {
	// DedupeBufferBytes bounds the memory of the offset map that a pass
	// builds over the dirty section (log.cleaner.dedupe.buffer.size
	// divided by log.cleaner.threads). Each key is charged its length
	// plus mapEntryOverheadBytes. When the map is full the pass stops at
	// a batch boundary and the rest of the dirty section waits for the
	// next pass. The first batch is always mapped, so a tiny value still
	// makes progress. Default 128 MiB.
	DedupeBufferBytes int64

	// IOBufferBytes sizes the read and write buffers
	// (log.cleaner.io.buffer.size). Default 512 KiB.
	IOBufferBytes int

	// MaxDecompressedBytes caps the decompressed size of one batch. A
	// batch that exceeds it, or whose records do not parse, is kept
	// unchanged and maps none of its keys, so it is never a reason to
	// remove another record. Set it at least as high as the produce
	// path's cap. Default 256 MiB.
	MaxDecompressedBytes int
}

// DefaultCleanerConfig returns Kafka's defaults for one cleaner thread.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{
		DedupeBufferBytes:    128 << 20,
		IOBufferBytes:        512 << 10,
		MaxDecompressedBytes: 256 << 20,
	}
}
