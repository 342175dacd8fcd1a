package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// DeleteRecordsBefore advances the LogStartOffset to offset (the
// DeleteRecords API, KIP-107), persists it in the log-start-offset
// checkpoint before anything else changes, and deletes the segments that
// lie wholly below it. An offset beyond LogEndOffset is
// ErrOffsetOutOfRange; one at or below LogStartOffset changes nothing.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if leo := l.logEndOffset.Load(); offset > leo {
		return fmt.Errorf("storage: delete records before %d, log end offset is %d: %w", offset, leo, ErrOffsetOutOfRange)
	}
	if offset <= l.logStartOffset.Load() {
		return nil
	}
	if err := l.advanceLogStartOffset(offset); err != nil {
		return err
	}
	_, err := l.deleteOldest(l.segmentsBelowLogStart())
	return err
}

// EnforceRetention deletes the oldest segments that break retention.ms
// (by their largest timestamp), retention.bytes (total size) or lie wholly
// below the LogStartOffset. Size retention never deletes the active
// segment; time retention does when all of its data has expired, after
// rolling a new, empty one (as Kafka does). It also removes segment files
// whose file.delete.delay.ms has passed. It returns how many segments it
// deleted.
func (l *Log) EnforceRetention() (deletedSegments int, err error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	nowMs := l.nowMs()
	l.removeDueDeletes(nowMs)
	cfg := l.cfg.Load()
	segs := l.mu.segments
	n := l.segmentsBelowLogStart()
	if cfg.RetentionMs >= 0 && cfg.retentionApplies() {
		k := 0
		for k < len(segs) && !(k == len(segs)-1 && segs[k].size == 0) &&
			nowMs-segs[k].largestTimestamp() > cfg.RetentionMs.Milliseconds() {
			k++
		}
		n = max(n, k)
	}
	if cfg.RetentionBytes >= 0 && cfg.retentionApplies() {
		k, excess := 0, l.mu.sizeBytes-cfg.RetentionBytes
		for k < len(segs)-1 && excess-segs[k].size >= 0 {
			excess -= segs[k].size
			k++
		}
		n = max(n, k)
	}
	if n == 0 {
		return 0, nil
	}
	return l.deleteOldest(n)
}

// segmentsBelowLogStart counts the leading segments whose every offset is
// below the LogStartOffset: the next segment starts at or before it, or,
// for the active segment, the log end does.
func (l *Log) segmentsBelowLogStart() int {
	segs, lso := l.mu.segments, l.logStartOffset.Load()
	k := 0
	for k < len(segs)-1 && segs[k+1].baseOffset <= lso {
		k++
	}
	if k == len(segs)-1 && segs[k].size > 0 && l.logEndOffset.Load() <= lso {
		k++
	}
	return k
}

// advanceLogStartOffset durably records a new LogStartOffset, then
// applies it and trims the leader-epoch cache. Callers hold syncMu and
// appendMu.
func (l *Log) advanceLogStartOffset(offset int64) error {
	if err := writeCheckpoint(l.dir, logStartOffsetFile, encodeOffsetCheckpoint(offset)); err != nil {
		return l.fail(fmt.Errorf("write %s: %w", logStartOffsetFile, err))
	}
	l.mu.Lock()
	l.logStartOffset.Store(offset)
	changed := l.mu.epochs.truncateFromStart(offset)
	l.mu.Unlock()
	if changed {
		return l.writeEpochs()
	}
	return nil
}

// writeEpochs persists the leader-epoch cache. Callers hold appendMu.
func (l *Log) writeEpochs() error {
	if err := writeCheckpoint(l.dir, leaderEpochFile, l.mu.epochs.encode()); err != nil {
		return l.fail(fmt.Errorf("write %s: %w", leaderEpochFile, err))
	}
	return nil
}

// deleteOldest deletes the n oldest segments, first rolling a new active
// segment at the LogEndOffset if all of them go. The LogStartOffset moves
// up to the new first segment. Callers hold syncMu and appendMu.
func (l *Log) deleteOldest(n int) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	if n >= len(l.mu.segments) {
		n = len(l.mu.segments)
		active := l.mu.segments[n-1]
		if _, err := l.roll(active, l.logEndOffset.Load()); err != nil {
			return 0, err
		}
	}
	l.mu.Lock()
	gone := slices.Clone(l.mu.segments[:n])
	l.mu.segments = slices.Delete(l.mu.segments, 0, n)
	for _, s := range gone {
		l.mu.sizeBytes -= s.size
		l.mu.sealedUnsynced = slices.DeleteFunc(l.mu.sealedUnsynced, func(x *segment) bool { return x == s })
	}
	newStart := l.mu.segments[0].baseOffset
	l.mu.Unlock()
	if err := l.retireSegments(gone); err != nil {
		return 0, err
	}
	if newStart > l.logStartOffset.Load() {
		if err := l.advanceLogStartOffset(newStart); err != nil {
			return 0, err
		}
	} else if err := syncDir(l.dir); err != nil {
		return 0, l.fail(fmt.Errorf("fsync directory: %w", err))
	}
	l.logger.Info("deleted segments", "segments", len(gone), "first", gone[0].baseOffset,
		"log_start_offset", l.logStartOffset.Load())
	return len(gone), nil
}

// retireSegments closes segments already removed from mu.segments and
// renames their files with the ".deleted" suffix; removeDueDeletes
// removes them after file.delete.delay.ms. No reader can still use them:
// readers hold mu, and the segments left the list under mu.
func (l *Log) retireSegments(gone []*segment) error {
	dueMs := l.nowMs() + l.cfg.Load().FileDeleteDelay.Milliseconds()
	for _, s := range gone {
		if s.file != nil {
			s.file.Close()
			s.file = nil
		}
		for _, suf := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
			err := os.Rename(s.prefix+suf, s.prefix+suf+deletedSuffix)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return l.fail(fmt.Errorf("segment %d: rename for deletion: %w", s.baseOffset, err))
			}
		}
		l.pendingDeletes = append(l.pendingDeletes, pendingDelete{prefix: s.prefix, dueMs: dueMs})
	}
	return nil
}

// removeDueDeletes removes retired segment files whose delay has passed.
// Callers hold syncMu. A failed removal is retried on the next call and
// in any case on the next Open.
func (l *Log) removeDueDeletes(nowMs int64) {
	l.pendingDeletes = slices.DeleteFunc(l.pendingDeletes, func(p pendingDelete) bool {
		if nowMs < p.dueMs {
			return false
		}
		if err := removeSegmentFiles(p.prefix, deletedSuffix); err != nil {
			l.logger.Warn("removing deleted segment files", "err", err)
			return false
		}
		return true
	})
}

// removeSegmentFiles removes prefix+{.log,.index,.timeindex}+suffix.
func removeSegmentFiles(prefix, suffix string) error {
	var first error
	for _, suf := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
		if err := os.Remove(prefix + suf + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

// Truncate removes every batch that holds an offset >= offset, as a
// follower does when its log diverged from the leader's. The LogEndOffset
// becomes one past the last remaining batch (equal to offset when offset
// is a batch boundary). An offset below the LogStartOffset empties the log
// and restarts it at offset. Truncate holds mu while it rescans the
// segment it cuts, so reads wait for it; it is rare. An offset at or past
// the LogEndOffset truncates nothing but still drops leader-epoch entries
// that start at or after it (an epoch a former leader assigned at its log
// end and never wrote in), as Kafka's truncateTo does.
func (l *Log) Truncate(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("storage: truncate to %d: %w", offset, ErrOffsetOutOfRange)
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset >= l.logEndOffset.Load() {
		l.mu.Lock()
		changed := l.mu.epochs.truncateFromEnd(offset)
		l.mu.Unlock()
		if changed {
			return l.writeEpochs()
		}
		return nil
	}
	if err := l.truncateCleanerCheckpoint(offset); err != nil {
		return err
	}
	if offset < l.logStartOffset.Load() {
		return l.truncateFullyAndStartAt(offset)
	}
	// The segment that will be cut must be scanned by a recovery that
	// happens before this truncation is durable.
	if offset < l.recoveryPoint {
		if err := writeCheckpoint(l.dir, recoveryPointFile, encodeOffsetCheckpoint(offset)); err != nil {
			return l.fail(fmt.Errorf("write %s: %w", recoveryPointFile, err))
		}
		l.recoveryPoint = offset
	}
	l.mu.Lock()
	err := l.truncateSegments(offset)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.writeEpochs()
}

// truncateSegments cuts the log at offset; the caller holds all locks.
func (l *Log) truncateSegments(offset int64) error {
	segs := l.mu.segments
	keep := 1
	for keep < len(segs) && segs[keep].baseOffset < offset {
		keep++
	}
	gone := slices.Clone(segs[keep:])
	l.mu.segments = segs[:keep]
	for _, s := range gone {
		l.mu.sizeBytes -= s.size
	}
	l.mu.sealedUnsynced = slices.DeleteFunc(l.mu.sealedUnsynced, func(x *segment) bool {
		return slices.Contains(gone, x) || x == segs[keep-1]
	})
	if err := l.retireSegments(gone); err != nil {
		return err
	}
	t := segs[keep-1]
	var hdr [batchPeekBytes]byte
	pos, _, err := t.findBatch(offset, t.size, hdr[:])
	if err != nil {
		return l.fail(fmt.Errorf("segment %d: truncate: %w", t.baseOffset, err))
	}
	if err := l.makeWritable(t); err != nil {
		return l.fail(fmt.Errorf("segment %d: truncate: %w", t.baseOffset, err))
	}
	if err := t.file.Truncate(pos); err != nil {
		return l.fail(fmt.Errorf("segment %d: truncate to %d: %w", t.baseOffset, pos, err))
	}
	oldSize := t.size
	res, err := t.scanSegment(pos, l.cfg.Load().IndexIntervalBytes, l.enc, nil)
	if err != nil {
		return l.fail(fmt.Errorf("segment %d: rescan after truncate: %w", t.baseOffset, err))
	}
	if res.validBytes != pos {
		l.logger.Warn("invalid data found while truncating", "segment", t.baseOffset, "valid_bytes", res.validBytes, "reason", res.reason)
		if err := t.file.Truncate(res.validBytes); err != nil {
			return l.fail(fmt.Errorf("segment %d: truncate to %d: %w", t.baseOffset, res.validBytes, err))
		}
	}
	l.mu.sizeBytes -= oldSize - t.size
	leo := t.nextOffset
	l.logEndOffset.Store(leo)
	if l.syncedEnd.Load() > leo {
		l.syncedEnd.Store(leo)
	}
	l.mu.epochs.truncateFromEnd(leo)
	l.logger.Info("truncated log", "offset", offset, "log_end_offset", leo, "removed_segments", len(gone))
	return nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log,
// empty, at offset, which becomes both LogStartOffset and LogEndOffset, as
// a follower does when its leader's log starts after its own log end.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("storage: start at %d: %w", offset, ErrOffsetOutOfRange)
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.truncateCleanerCheckpoint(offset); err != nil {
		return err
	}
	return l.truncateFullyAndStartAt(offset)
}

// truncateFullyAndStartAt deletes every segment and restarts the log,
// empty, at offset, which becomes both LogStartOffset and LogEndOffset.
// The leader-epoch cache is cleared. Callers hold syncMu and appendMu (or
// run inside Open).
func (l *Log) truncateFullyAndStartAt(offset int64) error {
	ns, err := createSegment(l.dir, offset, l.nowMs())
	if err != nil {
		return l.fail(fmt.Errorf("create segment %d: %w", offset, err))
	}
	l.mu.Lock()
	// A segment at the same base offset shares the new file's name; its
	// file was just truncated and is closed rather than renamed.
	gone := slices.DeleteFunc(slices.Clone(l.mu.segments), func(s *segment) bool {
		if s.baseOffset != offset {
			return false
		}
		if s.file != nil {
			s.file.Close()
			s.file = nil
		}
		return true
	})
	l.mu.segments = []*segment{ns}
	l.mu.sealedUnsynced = nil
	l.mu.sizeBytes = 0
	l.mu.dirGen++
	l.mu.epochs.entries = nil
	l.logStartOffset.Store(offset)
	l.logEndOffset.Store(offset)
	l.syncedEnd.Store(offset)
	l.mu.Unlock()
	if err := l.retireSegments(gone); err != nil {
		return err
	}
	for _, write := range []struct {
		name string
		data []byte
	}{
		{recoveryPointFile, encodeOffsetCheckpoint(offset)},
		{logStartOffsetFile, encodeOffsetCheckpoint(offset)},
		{leaderEpochFile, l.mu.epochs.encode()},
	} {
		if err := writeCheckpoint(l.dir, write.name, write.data); err != nil {
			return l.fail(fmt.Errorf("write %s: %w", write.name, err))
		}
	}
	l.recoveryPoint = offset
	l.logger.Info("log emptied", "log_start_offset", offset)
	return nil
}
