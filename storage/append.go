package storage

import (
	"fmt"
	"sync"
	"time"
)

// Append writes one or more complete v2 record batches, back to back, at
// the end of the log and assigns their offsets: it overwrites each batch's
// baseOffset field in batch (the CRC does not cover it), starting at the
// LogEndOffset. It returns the first batch's base offset and the last
// batch's last offset. The batches are validated again (header and CRC),
// because recovery truncates the log at the first invalid batch, so
// storing one would put every later record at risk.
//
// The bytes go to the page cache in one write; they are durable once
// SyncTo(lastOffset) returns nil (or flush.messages triggers an fsync,
// whose error Append then returns).
func (l *Log) Append(batch []byte) (baseOffset, lastOffset int64, err error) {
	return l.append(batch, true)
}

// AppendWithOffsets writes batches that already carry their offsets, as a
// follower replicating from the leader does. The first base offset must be
// >= LogEndOffset and each batch must start after the previous one ends;
// gaps are allowed (compacted topics). It returns the last offset.
func (l *Log) AppendWithOffsets(batch []byte) (lastOffset int64, err error) {
	_, last, err := l.append(batch, false)
	return last, err
}

func (l *Log) append(batch []byte, assign bool) (int64, int64, error) {
	l.appendMu.Lock()
	base, last, startFlush, err := l.appendLocked(batch, assign)
	l.appendMu.Unlock()
	if startFlush {
		l.flushInBackground()
	}
	if err != nil {
		return -1, -1, err
	}
	if unflushedLimit(l.cfg.Load(), l.logEndOffset.Load(), l.syncedEnd.Load()) {
		if err := l.SyncTo(last); err != nil {
			return -1, -1, err
		}
	}
	return base, last, nil
}

// flushInBackground fsyncs a freshly sealed segment. Kafka flushes a
// sealed segment right after the roll so that the recovery point
// advances; it is done off the append path. Close waits for it: the
// caller ran bg.Add under appendMu, before Close's barrier.
func (l *Log) flushInBackground() {
	go func() {
		defer l.bg.Done()
		defer l.bgRunning.Store(false)
		// An error has already failed the log (or it is closing); every
		// later call reports it.
		_ = l.Sync()
	}()
}

// appendLocked runs with appendMu held. startFlush reports that a segment
// was sealed and the caller must start the background fsync (bg.Add has
// been called).
func (l *Log) appendLocked(batch []byte, assign bool) (base, last int64, startFlush bool, err error) {
	if err := l.usable(); err != nil {
		return 0, 0, false, err
	}
	cfg := l.cfg.Load()
	leo := l.logEndOffset.Load()
	assignFrom := int64(-1)
	if assign {
		assignFrom = leo
	}
	infos, err := parseBatches(batch, assignFrom, leo, l.infos[:0])
	l.infos = infos[:0]
	if err != nil {
		return 0, 0, false, err
	}
	first, final := infos[0], infos[len(infos)-1]
	// A segment's data is all under one key (or all in the clear): new
	// data under another key starts a new segment.
	keyID, key, err := l.enc.target()
	if err != nil {
		return 0, 0, false, err
	}
	size := int64(len(batch))
	if keyID != "" {
		size += int64(len(infos)) * frameOverhead(len(keyID))
	}
	active := l.mu.segments[len(l.mu.segments)-1]
	if l.shouldRoll(active, cfg, size, final.lastOffset, len(infos)) || (active.size > 0 && active.keyID() != keyID) {
		if active, err = l.roll(active, first.baseOffset); err != nil {
			return 0, 0, false, err
		}
		if l.bgRunning.CompareAndSwap(false, true) {
			l.bg.Add(1)
			startFlush = true
		}
	}
	if active.keyID() != keyID {
		// The active segment is empty: give it a data key of its own.
		var c *segmentCipher
		if keyID != "" {
			if c, err = freshSegmentCipher(keyID, key); err != nil {
				return 0, 0, startFlush, fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
			}
		}
		l.mu.Lock()
		active.crypt = c
		l.mu.Unlock()
	}
	if err := l.recordEpochs(infos); err != nil {
		return 0, 0, startFlush, err
	}
	position := active.size
	data := batch
	if active.crypt != nil {
		buf := framePool.Get().(*[]byte)
		data = sealFrames(active, batch, infos, position, (*buf)[:0])
		defer func() {
			if cap(data) <= scratchKeepBytes {
				*buf = data[:0]
				framePool.Put(buf)
			}
		}()
	}
	_, err = active.file.WriteAt(data, position)
	if err != nil {
		return 0, 0, startFlush, l.fail(fmt.Errorf("segment %d: write at %d: %w", active.baseOffset, position, err))
	}
	l.mu.Lock()
	for _, b := range infos {
		active.indexBatch(b.baseOffset, b.lastOffset, position+b.position, b.size, b.maxTimestamp, cfg.IndexIntervalBytes)
		if b.leaderEpoch > UndefinedEpoch {
			l.mu.epochs.assign(b.leaderEpoch, b.baseOffset)
		}
	}
	l.mu.sizeBytes += int64(len(data))
	l.logEndOffset.Store(final.lastOffset + 1)
	l.mu.Unlock()
	return first.baseOffset, final.lastOffset, startFlush, nil
}

// framePool holds the buffers appends seal their frames in, shared by
// every log so that memory follows the appends in flight rather than the
// number of logs.
var framePool = sync.Pool{New: func() any { return new([]byte) }}

// sealFrames appends to out a frame for each batch of an append to the
// encrypted active segment s, the frames to be written from position,
// and changes infos' positions and sizes to the frames'.
func sealFrames(s *segment, batch []byte, infos []batchInfo, position int64, out []byte) []byte {
	for i := range infos {
		b := &infos[i]
		start := int64(len(out))
		out = s.crypt.seal(out, s.baseOffset, position+start, batch[b.position:b.position+b.size])
		b.position, b.size = start, int64(len(out))-start
	}
	return out
}

// shouldRoll applies segment.bytes, segment.ms (with jitter),
// segment.index.bytes and the uint32 relative-offset limit.
func (l *Log) shouldRoll(s *segment, cfg *Config, n, last int64, batches int) bool {
	if !s.fits(last) {
		return true
	}
	if s.size == 0 {
		return false
	}
	if s.size+n > cfg.SegmentBytes {
		return true
	}
	if len(s.offsetIndex)+batches > cfg.maxOffsetEntries() || len(s.timeIndex)+batches > cfg.maxTimeEntries() {
		return true
	}
	age := time.Duration(l.nowMs()-s.rollTimestamp) * time.Millisecond
	return age > cfg.rollMs()-s.jitter(cfg.SegmentJitter)
}

// recordEpochs persists the leader-epoch checkpoint before data of a new,
// higher epoch is written (recovery trims entries beyond the log end, so
// the checkpoint may run ahead of the data but never behind it). The
// in-memory cache is updated with the data.
func (l *Log) recordEpochs(infos []batchInfo) error {
	next := epochCache{entries: l.mu.epochs.entries}
	changed := false
	for _, b := range infos {
		if last, ok := next.latest(); b.leaderEpoch > UndefinedEpoch && (!ok || b.leaderEpoch > last.LeaderEpoch) {
			if !changed {
				next.entries = append([]EpochEntry(nil), next.entries...)
				changed = true
			}
			next.assign(b.leaderEpoch, b.baseOffset)
		}
	}
	if !changed {
		return nil
	}
	if err := writeCheckpoint(l.dir, leaderEpochFile, next.encode()); err != nil {
		return l.fail(fmt.Errorf("write %s: %w", leaderEpochFile, err))
	}
	return nil
}

// roll seals the active segment and creates a new one at base. An empty
// active segment (rolled only because base does not fit its relative
// offsets) is replaced instead.
func (l *Log) roll(old *segment, base int64) (*segment, error) {
	if old.size == 0 {
		ns, err := createSegment(l.dir, base, l.nowMs())
		if err != nil {
			return nil, l.fail(fmt.Errorf("create segment %d: %w", base, err))
		}
		l.mu.Lock()
		l.mu.segments[len(l.mu.segments)-1] = ns
		l.mu.dirGen++
		l.mu.Unlock()
		old.file.Close()
		removeSegmentFiles(old.prefix, "")
		return ns, nil
	}
	l.mu.Lock()
	old.appendTimeEntry()
	l.mu.Unlock()
	if err := old.writeIndexes(); err != nil {
		return nil, l.fail(fmt.Errorf("segment %d: write indexes: %w", old.baseOffset, err))
	}
	ns, err := createSegment(l.dir, base, l.nowMs())
	if err != nil {
		return nil, l.fail(fmt.Errorf("create segment %d: %w", base, err))
	}
	l.mu.Lock()
	l.mu.segments = append(l.mu.segments, ns)
	l.mu.sealedUnsynced = append(l.mu.sealedUnsynced, old)
	l.mu.dirGen++
	l.mu.Unlock()
	l.logger.Debug("rolled segment", "segment", old.baseOffset, "bytes", old.size, "next_segment", base)
	return ns, nil
}
