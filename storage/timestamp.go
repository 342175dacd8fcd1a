package storage

import "fmt"

// OffsetForTimestamp serves ListOffsets with a timestamp: it finds the
// first batch, at or after the LogStartOffset, whose maxTimestamp is >=
// ts, and returns max(its base offset, LogStartOffset) with the batch's
// maxTimestamp. Kafka answers with the first record whose timestamp is >=
// ts; records may be compressed and storage does not decompress, so the
// broker refines inside the batch with ReadBatchAt when it needs the
// record. found is false when no batch qualifies.
//
// The segment is the first whose largest timestamp is >= ts; inside it the
// time index gives a batch before which every batch is older than ts, and
// a header walk from there finds the answer.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return -1, -1, false, err
	}
	lso := l.logStartOffset.Load()
	var hdr [batchPeekBytes]byte
	for _, s := range l.mu.segments {
		if s.size == 0 || s.maxTimestamp < ts || s.nextOffset <= lso {
			continue
		}
		start := max(s.baseOffset, lso)
		if rel, ok := lookupTime(s.timeIndex, ts); ok {
			start = max(start, s.baseOffset+int64(rel))
		}
		pos, ok, err := s.findBatch(start, s.size, hdr[:])
		if err != nil {
			return -1, -1, false, err
		}
		for ok && pos < s.size {
			if _, err := s.file.ReadAt(hdr[:], pos); err != nil {
				return -1, -1, false, fmt.Errorf("segment %d: read header at %d: %w", s.baseOffset, pos, err)
			}
			if err := s.checkHeader(hdr[:], s.size-pos); err != nil {
				return -1, -1, false, corruptionf("segment %d: header at %d: %v", s.baseOffset, pos, err)
			}
			if mt := batchMaxTimestamp(hdr[:]); mt >= ts {
				return max(batchBaseOffset(hdr[:]), lso), mt, true, nil
			}
			pos += batchSize(hdr[:])
		}
	}
	return -1, -1, false, nil
}
