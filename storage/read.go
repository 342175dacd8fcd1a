package storage

import (
	"fmt"
	"math"
)

// Read returns whole batches starting with the batch that contains offset
// (or the first batch after it, if offset falls in a gap). No returned
// batch has a base offset >= maxOffset, the exclusive bound the broker
// passes (the high watermark), and Data holds at most maxBytes, except
// that with minOneBatch a first batch larger than maxBytes is returned
// whole (KIP-74). A read never crosses a segment boundary, as in Kafka.
//
// Data is read into buf, which is grown only if too small; the caller may
// pool it. Read allocates nothing else. An offset below LogStartOffset or
// above LogEndOffset is ErrOffsetOutOfRange; offset == LogEndOffset gives
// an empty result. Read runs concurrently with Append and is never blocked
// by an fsync.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOneBatch bool, buf []byte) (ReadResult, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	res := ReadResult{
		Data:           buf[:0],
		FirstOffset:    -1,
		NextOffset:     -1,
		LogStartOffset: l.logStartOffset.Load(),
		LogEndOffset:   l.logEndOffset.Load(),
	}
	if err := l.usable(); err != nil {
		return res, err
	}
	if offset < res.LogStartOffset || offset > res.LogEndOffset {
		return res, fmt.Errorf("storage: read offset %d outside [%d, %d]: %w", offset, res.LogStartOffset, res.LogEndOffset, ErrOffsetOutOfRange)
	}
	if offset == res.LogEndOffset || offset >= maxOffset {
		return res, nil
	}
	buf = grow(buf, batchPeekBytes)
	segs := l.mu.segments
	for i := l.segmentFor(offset); i < len(segs); i++ {
		s := segs[i]
		pos, found, err := s.findBatch(offset, s.size, buf)
		if err != nil {
			return res, err
		}
		if found {
			return s.readFrom(pos, maxBytes, maxOffset, minOneBatch, buf, res)
		}
	}
	return res, nil
}

// ReadBatchAt returns the single batch that contains offset (or the first
// batch after it), read into buf. It serves callers that need to look
// inside one batch, such as ListOffsets refining OffsetForTimestamp.
func (l *Log) ReadBatchAt(offset int64, buf []byte) ([]byte, error) {
	res, err := l.Read(offset, 0, math.MaxInt64, true, buf)
	return res.Data, err
}

// segmentFor returns the index of the last segment whose base offset is
// <= offset (0 if none). The caller holds mu. It is a hand-written binary
// search so that the read path does not allocate a closure.
func (l *Log) segmentFor(offset int64) int {
	segs := l.mu.segments
	lo, hi := 0, len(segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if segs[m].baseOffset <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// readFrom reads whole batches starting at pos. buf[:batchPeekBytes] holds
// the header of the batch at pos (left there by findBatch).
func (s *segment) readFrom(pos int64, maxBytes int, maxOffset int64, minOneBatch bool, buf []byte, res ReadResult) (ReadResult, error) {
	if batchBaseOffset(buf) >= maxOffset {
		return res, nil
	}
	if s.crypt != nil {
		return s.readFrames(pos, maxBytes, maxOffset, minOneBatch, buf, res)
	}
	n := min(int64(max(maxBytes, 0)), s.size-pos)
	if first := batchSize(buf); first > n {
		if !minOneBatch {
			return res, nil
		}
		n = first
	}
	buf = grow(buf, int(n))
	if _, err := s.file.ReadAt(buf[:n], pos); err != nil {
		return res, fmt.Errorf("segment %d: read %d bytes at %d: %w", s.baseOffset, n, pos, err)
	}
	end := int64(0)
	for end+batchPeekBytes <= n {
		b := buf[end:n]
		if batchSize(b) > int64(len(b)) && end > 0 {
			break // a batch cut off by maxBytes
		}
		if !validBatchHeader(b, int64(len(b))) {
			return res, corruptionf("segment %d: batch at %d: %v", s.baseOffset, pos+end, checkBatchHeader(b, int64(len(b))))
		}
		if batchBaseOffset(b) >= maxOffset {
			break
		}
		if res.FirstOffset < 0 {
			res.FirstOffset = batchBaseOffset(b)
		}
		res.NextOffset = batchBaseOffset(b) + int64(batchLastOffsetDelta(b)) + 1
		end += batchSize(b)
	}
	res.Data = buf[:end]
	return res, nil
}

// grow returns buf resliced to n bytes, reallocated only if its capacity
// is smaller.
func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n)
	}
	return buf[:n]
}

// readFrames is readFrom for an encrypted segment. It reads the frames
// that lie within maxBytes of pos (or, with minOneBatch, the first one
// whose batch is larger than maxBytes), so the batches, being smaller
// than their frames, stay within maxBytes too; and a first batch that
// fits maxBytes is always returned, as from a plain segment. Each frame
// is authenticated and decrypted in place and its batch moved down to
// follow the previous one, so the batches end up back to back at the
// start of buf.
func (s *segment) readFrames(pos int64, maxBytes int, maxOffset int64, minOneBatch bool, buf []byte, res ReadResult) (ReadResult, error) {
	c := s.crypt
	limit := int64(max(maxBytes, 0))
	n := min(limit, s.size-pos)
	first := batchSize(buf)
	if first-c.overhead() > limit {
		if !minOneBatch {
			return res, nil
		}
		n = first
	}
	n = max(n, first)
	buf = grow(buf, int(n))
	if _, err := s.file.ReadAt(buf[:n], pos); err != nil {
		return res, fmt.Errorf("segment %d: read %d bytes at %d: %w", s.baseOffset, n, pos, err)
	}
	in, out := int64(0), int64(0)
	for in+batchPeekBytes <= n {
		f := buf[in:n]
		size := batchSize(f)
		if size > int64(len(f)) && in > 0 {
			break // a frame cut off by maxBytes
		}
		if !validFrameHeader(f, int64(len(f))) {
			return res, corruptionf("segment %d: frame at %d: %v", s.baseOffset, pos+in, checkFrameHeader(f, int64(len(f))))
		}
		base := batchBaseOffset(f)
		if base >= maxOffset {
			break
		}
		next := base + int64(batchLastOffsetDelta(f)) + 1
		f = f[:size]
		if err := checkFrame(f, s.baseOffset, pos+in); err != nil {
			return res, corruptionf("segment %d: frame at %d: %v", s.baseOffset, pos+in, err)
		}
		if !c.owns(f) {
			return res, corruptionf("segment %d: frame at %d is not under the segment's data key (key %q)", s.baseOffset, pos+in, c.keyID)
		}
		b, err := c.open(f)
		if err != nil {
			return res, corruptionf("segment %d: frame at %d: %v", s.baseOffset, pos+in, err)
		}
		copy(buf[out:], b)
		out += int64(len(b))
		in += size
		if res.FirstOffset < 0 {
			res.FirstOffset = base
		}
		res.NextOffset = next
	}
	res.Data = buf[:out]
	return res, nil
}
