package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"time"

	"github.com/skein-streaming/skein/protocol/records"
)

// batchRecordCountAt is the position of the v2 header's recordCount.
const batchRecordCountAt = 57

// cleanGroup rewrites one group of source segments into a new segment
// and swaps it in. A group of one segment from which nothing would be
// removed is left alone.
func (l *Log) cleanGroup(c *Cleaner, g []cleanSource, p *cleanPlan, end int64, cfg *Config, st *CompactStats) (err error) {
	out := newSegmentState(l.dir, g[0].base, p.nowMs)
	// The cleaned segment is written under the key new data gets, so
	// cleaning also completes a key rotation (or a change to or from
	// encryption) for what it rewrites.
	if out.crypt, err = l.enc.newTargetCipher(); err != nil {
		return fmt.Errorf("storage: compact: %w", err)
	}
	path := out.logPath() + cleanedSuffix
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: compact: %w", err)
	}
	swapping := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil && !swapping {
			removeCleanedFiles(out.prefix)
		}
	}()
	var gs CompactStats
	changed := len(g) > 1
	for i := range g {
		changed = changed || g[i].crypt.keyIDOrClear() != out.keyID()
	}
	c.writer.Reset(f)
	horizonMs := p.nowMs - cfg.DeleteRetention.Milliseconds()
	for i := range g {
		s := &g[i]
		ch, err := c.copySegment(l, s, out, end, horizonMs, cfg.IndexIntervalBytes, &gs)
		if err != nil {
			return err
		}
		changed = changed || ch
		gs.BytesRead += s.size
		out.modTimestamp = max(out.modTimestamp, s.modTs)
	}
	if err := c.writer.Flush(); err != nil {
		return fmt.Errorf("storage: compact: write %s: %w", path, err)
	}
	if !changed {
		return os.Remove(path)
	}
	if err := l.sealCleaned(f, out); err != nil {
		return err
	}
	f = nil
	gs.BytesWritten = out.size
	gs.SegmentsRead, gs.SegmentsWritten = len(g), 1
	if l.crashAt("before-swap") {
		return errSimulatedCrash
	}
	swapping = true
	if err := l.swapGroup(g, out, p.truncations); err != nil {
		return err
	}
	st.add(&gs)
	return nil
}

// sealCleaned makes a written .cleaned segment durable with its index
// files and closes it. The file's modification time is set to the latest
// of its sources', as Kafka does, so that time retention of data without
// timestamps is not reset by cleaning.
func (l *Log) sealCleaned(f *os.File, out *segment) error {
	path := f.Name()
	if err := fdatasync(f); err != nil {
		f.Close()
		return fmt.Errorf("storage: compact: fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: compact: close %s: %w", path, err)
	}
	mtime := time.UnixMilli(out.modTimestamp)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		return fmt.Errorf("storage: compact: %w", err)
	}
	out.appendTimeEntry()
	for _, idx := range []struct {
		path string
		data []byte
	}{
		{out.indexPath() + cleanedSuffix, encodeOffsetIndex(out.offsetIndex)},
		{out.timeIndexPath() + cleanedSuffix, encodeTimeIndex(out.timeIndex)},
	} {
		if err := writeFile(idx.path, idx.data); err != nil {
			return fmt.Errorf("storage: compact: %w", err)
		}
		if err := syncFile(idx.path); err != nil {
			return fmt.Errorf("storage: compact: fsync %s: %w", idx.path, err)
		}
	}
	return nil
}

// copySegment filters the batches of one source segment into out. It
// reports whether anything was removed or rewritten.
func (c *Cleaner) copySegment(l *Log, s *cleanSource, out *segment, end, horizonMs int64, interval int, gs *CompactStats) (bool, error) {
	if s.size == 0 {
		return false, nil
	}
	f, err := os.Open(s.seg.logPath())
	if err != nil {
		return false, fmt.Errorf("%w: segment %d: %v", ErrCompactionAborted, s.base, err)
	}
	defer f.Close()
	changed := false
	br := c.batches(f, s, 0)
	for {
		b, err := br.next()
		if err != nil {
			return false, err
		}
		if b == nil {
			return changed, nil
		}
		if err := l.abortIfClosed(); err != nil {
			return false, err
		}
		keep, rewritten, err := c.filterBatch(b, end, tombstoneTimestamp(b, s) < horizonMs, gs)
		if err != nil {
			return false, err
		}
		changed = changed || rewritten
		if keep == nil {
			continue
		}
		if err := writeCleanedBatch(c, out, keep, interval); err != nil {
			return false, err
		}
	}
}

// tombstoneTimestamp is the time a batch's tombstones are retained from:
// the batch's maxTimestamp, or, for a batch without timestamps, the
// largest timestamp of its segment (the file's modification time when no
// batch has one). It is per batch, not per segment as in Kafka before
// KIP-534, because cleaning groups segments together: a tombstone would
// otherwise take the timestamp of the newest segment merged with it, and
// a log cleaned often could keep it forever.
func tombstoneTimestamp(b []byte, s *cleanSource) int64 {
	if ts := batchMaxTimestamp(b); ts >= 0 {
		return ts
	}
	return s.largestTs
}

// filterBatch returns the batch to write in place of b: b itself when
// every record stays, nil when none does, or a rebuilt batch that keeps
// the original header (base offset, lastOffsetDelta, base timestamp,
// producer fields, attributes, leader epoch) with only the kept records,
// each with its original offset and timestamp deltas and headers, in the
// original codec. rewritten is false only when b is returned. Control
// batches and batches at or beyond end (not covered by the offset map)
// are kept whole.
func (c *Cleaner) filterBatch(b []byte, end int64, dropTombstones bool, gs *CompactStats) (out []byte, rewritten bool, err error) {
	attrs := binary.BigEndian.Uint16(b[batchAttributesAt:])
	if attrs&attrControl != 0 || batchBaseOffset(b) >= end {
		return b, false, nil
	}
	// Tombstones of transactional batches stay: those batches are not
	// mapped, so an older record of the key may still be there.
	c.dropTombstones = dropTombstones && attrs&attrTransactional == 0
	c.kept, c.total, c.keptMaxTs = 0, 0, -1
	c.body, c.keptOffsets = c.body[:0], c.keptOffsets[:0]
	c.batchStats = CompactStats{}
	if err := records.ForEachRecord(b, &c.scratch, c.filterFn); err != nil {
		gs.UnparsedBatches++
		return b, false, nil
	}
	gs.RecordsRead += int64(c.total)
	if c.kept == c.total {
		return b, false, nil
	}
	gs.RecordsRemoved += c.batchStats.RecordsRemoved
	gs.TombstonesRemoved += c.batchStats.TombstonesRemoved
	gs.KeylessRemoved += c.batchStats.KeylessRemoved
	if c.kept == 0 {
		return nil, true, nil
	}
	out, err = c.rebuildBatch(b, attrs)
	return out, true, err
}

// filterRecord decides one record (Kafka's LogCleaner.shouldRetainRecord)
// and re-encodes it into c.body when it stays.
func (c *Cleaner) filterRecord(r records.RecordView) error {
	c.total++
	if r.Key == nil {
		c.batchStats.KeylessRemoved++
		return nil
	}
	if latest, ok := c.offsets[string(r.Key)]; ok && r.Offset < latest {
		c.batchStats.RecordsRemoved++
		return nil
	}
	if r.Value == nil && c.dropTombstones {
		c.batchStats.TombstonesRemoved++
		return nil
	}
	c.kept++
	c.keptOffsets = append(c.keptOffsets, r.Offset)
	c.keptMaxTs = max(c.keptMaxTs, r.Timestamp)
	c.body = appendRecordView(c.body, &r)
	return nil
}

// rebuildBatch builds the batch of the kept records in c.body and checks
// it by decoding it again (a paired check: the encoder must reproduce
// exactly the kept offsets).
func (c *Cleaner) rebuildBatch(b []byte, attrs uint16) ([]byte, error) {
	codec := records.Codec(attrs & attrCodecMask)
	out, err := records.Compress(codec, append(c.out[:0], b[:batchHeaderBytes]...), c.body)
	if err != nil {
		return nil, fmt.Errorf("storage: compact: batch %d: %v: %w", batchBaseOffset(b), codec, err)
	}
	c.out = out
	be := binary.BigEndian
	be.PutUint32(out[batchLengthAt:], uint32(len(out)-batchLengthFieldEnd))
	be.PutUint32(out[batchRecordCountAt:], uint32(c.kept))
	if attrs&attrLogAppendTime == 0 {
		// As Kafka's MemoryRecordsBuilder: the largest kept timestamp.
		be.PutUint64(out[batchMaxTimestampAt:], uint64(c.keptMaxTs))
	}
	be.PutUint32(out[batchCRCAt:], crc32.Checksum(out[batchAttributesAt:], castagnoli))
	i := 0
	err = records.ForEachRecord(out, &c.scratch, func(r records.RecordView) error {
		if i >= len(c.keptOffsets) || r.Offset != c.keptOffsets[i] {
			return errors.New("offsets differ")
		}
		i++
		return nil
	})
	if err != nil || i != len(c.keptOffsets) {
		return nil, fmt.Errorf("storage: compact: rebuilt batch %d does not decode to its %d kept records: %v",
			batchBaseOffset(b), len(c.keptOffsets), err)
	}
	return out, nil
}

// writeCleanedBatch appends one batch to the cleaned segment (sealed
// into a frame if the segment is encrypted) and indexes it like an
// append would.
func writeCleanedBatch(c *Cleaner, out *segment, b []byte, interval int) error {
	data := b
	if out.crypt != nil {
		c.frame = out.crypt.seal(c.frame[:0], out.baseOffset, out.size, b)
		data = c.frame
	}
	size := int64(len(data))
	if out.size+size > math.MaxUint32 {
		return fmt.Errorf("storage: compact: segment %d would exceed %d bytes", out.baseOffset, int64(math.MaxUint32))
	}
	if _, err := c.writer.Write(data); err != nil {
		return fmt.Errorf("storage: compact: write segment %d: %w", out.baseOffset, err)
	}
	base := batchBaseOffset(b)
	out.indexBatch(base, base+int64(batchLastOffsetDelta(b)), out.size, size, batchMaxTimestamp(b), interval)
	return nil
}

// appendRecordView appends r encoded as a v2 record: length, attributes,
// timestampDelta, offsetDelta, key, value, headers, all as read.
func appendRecordView(dst []byte, r *records.RecordView) []byte {
	var tmp [1 + 2*binary.MaxVarintLen64]byte
	head := append(tmp[:0], byte(r.Attributes))
	head = records.AppendVarlong(head, r.TimestampDelta)
	head = records.AppendVarint(head, r.OffsetDelta)
	n := len(head) + bytesFieldLen(r.Key) + bytesFieldLen(r.Value) + varintLen(r.HeaderCount) + len(r.Headers)
	dst = records.AppendVarint(dst, int32(n))
	dst = append(dst, head...)
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = records.AppendVarint(dst, r.HeaderCount)
	return append(dst, r.Headers...)
}

func appendBytesField(dst, f []byte) []byte {
	if f == nil {
		return records.AppendVarint(dst, -1)
	}
	return append(records.AppendVarint(dst, int32(len(f))), f...)
}

func bytesFieldLen(f []byte) int {
	if f == nil {
		return varintLen(-1)
	}
	return varintLen(int32(len(f))) + len(f)
}

func varintLen(v int32) int {
	var tmp [binary.MaxVarintLen32]byte
	return len(records.AppendVarint(tmp[:0], v))
}

// add accumulates a group's counts.
func (s *CompactStats) add(g *CompactStats) {
	s.SegmentsRead += g.SegmentsRead
	s.SegmentsWritten += g.SegmentsWritten
	s.BytesRead += g.BytesRead
	s.BytesWritten += g.BytesWritten
	s.RecordsRead += g.RecordsRead
	s.RecordsRemoved += g.RecordsRemoved
	s.TombstonesRemoved += g.TombstonesRemoved
	s.KeylessRemoved += g.KeylessRemoved
	s.UnparsedBatches += g.UnparsedBatches
}
