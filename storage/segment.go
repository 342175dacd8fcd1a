package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// segment is one .log file and its in-memory indexes. The fields below
// file are guarded by Log.mu; writes to the file are serialised by
// Log.appendMu.
type segment struct {
	baseOffset int64
	// prefix is the path without suffix: dir/<20-digit base offset>.
	prefix string

	// file is opened read-write while the segment is active, and until the
	// first fsync after it was sealed; read-only afterwards.
	file     *os.File
	writable bool

	// size is the number of bytes of whole batches readers may see.
	size int64
	// nextOffset is one past the last offset of the last batch, or
	// baseOffset while the segment is empty.
	nextOffset int64
	// offsetIndex and timeIndex are the sparse indexes (see doc.go).
	offsetIndex []offsetEntry
	timeIndex   []timeEntry
	// bytesSinceIndex counts batch bytes appended since the last
	// offsetIndex entry.
	bytesSinceIndex int64
	// maxTimestamp is the largest batch maxTimestamp (ms), -1 when empty;
	// offsetOfMaxTimestamp is the base offset of the first batch that has
	// it.
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	// rollTimestamp (ms) is what segment.ms is measured from: the log
	// clock when the segment was created. A segment loaded by Open uses its
	// first batch's maxTimestamp (or the file's modification time if it
	// has none), since the creation time is not stored.
	rollTimestamp int64
	// modTimestamp (ms) is the file's modification time when loaded, used
	// by time retention when no batch carries a timestamp.
	modTimestamp int64
	// crypt is the data key of an encrypted segment, whose file holds
	// frames (frame.go); nil while the file holds plain batches or is
	// empty. It is set with the first frame and changes only while the
	// segment is empty.
	crypt *segmentCipher
}

func segmentPrefix(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d", base))
}

func (s *segment) logPath() string       { return s.prefix + logSuffix }
func (s *segment) indexPath() string     { return s.prefix + offsetIndexSuffix }
func (s *segment) timeIndexPath() string { return s.prefix + timeIndexSuffix }

func newSegmentState(dir string, base, nowMs int64) *segment {
	return &segment{
		baseOffset:           base,
		prefix:               segmentPrefix(dir, base),
		nextOffset:           base,
		maxTimestamp:         -1,
		offsetOfMaxTimestamp: base,
		rollTimestamp:        nowMs,
		modTimestamp:         nowMs,
	}
}

// createSegment creates an empty, writable segment file, replacing any
// stale files of the same name.
func createSegment(dir string, base, nowMs int64) (*segment, error) {
	s := newSegmentState(dir, base, nowMs)
	for _, p := range []string{s.indexPath(), s.timeIndexPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	f, err := os.OpenFile(s.logPath(), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s.file, s.writable = f, true
	return s, nil
}

// indexBatch updates the in-memory state for a batch that now occupies
// [position, position+size) of the file. It follows Kafka: the batch gets
// an offset index entry (and the time index its running maximum) when more
// than interval bytes were appended since the last entry.
func (s *segment) indexBatch(base, last, position, size, maxTs int64, interval int) {
	if maxTs > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTimestamp = maxTs, base
	}
	if s.bytesSinceIndex > int64(interval) {
		s.offsetIndex = append(s.offsetIndex, offsetEntry{
			relOffset: uint32(base - s.baseOffset),
			position:  uint32(position),
		})
		s.appendTimeEntry()
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += size
	s.size = position + size
	s.nextOffset = last + 1
}

// appendTimeEntry adds the running maximum to the time index if it grew.
func (s *segment) appendTimeEntry() {
	if s.maxTimestamp < 0 {
		return
	}
	if n := len(s.timeIndex); n > 0 && s.timeIndex[n-1].timestamp >= s.maxTimestamp {
		return
	}
	s.timeIndex = append(s.timeIndex, timeEntry{
		timestamp: s.maxTimestamp,
		relOffset: uint32(s.offsetOfMaxTimestamp - s.baseOffset),
	})
}

// resetIndexes forgets everything derived from the file's contents.
func (s *segment) resetIndexes() {
	s.size, s.nextOffset = 0, s.baseOffset
	s.offsetIndex, s.timeIndex = s.offsetIndex[:0], s.timeIndex[:0]
	s.bytesSinceIndex = 0
	s.maxTimestamp, s.offsetOfMaxTimestamp = -1, s.baseOffset
}

// writeIndexes writes both index files from memory, first adding the
// final time index entry Kafka writes when a segment is sealed. The data
// reaches the page cache only; syncIndexes makes it durable.
func (s *segment) writeIndexes() error {
	s.appendTimeEntry()
	if err := writeFile(s.indexPath(), encodeOffsetIndex(s.offsetIndex)); err != nil {
		return err
	}
	return writeFile(s.timeIndexPath(), encodeTimeIndex(s.timeIndex))
}

func (s *segment) syncIndexes() error {
	if err := syncFile(s.indexPath()); err != nil {
		return err
	}
	return syncFile(s.timeIndexPath())
}

// fits reports whether relative offset last can still be indexed.
func (s *segment) fits(last int64) bool { return last-s.baseOffset <= math.MaxInt32 }

// largestTimestamp is what time retention compares: the largest batch
// timestamp, or the file's modification time if no batch has one.
func (s *segment) largestTimestamp() int64 {
	if s.maxTimestamp >= 0 {
		return s.maxTimestamp
	}
	return s.modTimestamp
}

// findBatch walks batch headers from the indexed position at or before
// target, within the first limit bytes of the file, to the batch that
// contains target or, if target falls in a gap, the first batch after it.
// scratch must hold batchPeekBytes. found is false when no batch in the
// segment ends at or after target.
func (s *segment) findBatch(target, limit int64, scratch []byte) (pos int64, found bool, err error) {
	rel := target - s.baseOffset
	if rel > math.MaxUint32 {
		rel = math.MaxUint32
	}
	var entry offsetEntry
	indexed := false
	if rel > 0 {
		entry, indexed = lookupOffset(s.offsetIndex, uint32(rel))
		pos = int64(entry.position)
	}
	for pos < limit {
		hdr := scratch[:batchPeekBytes]
		if _, err := s.file.ReadAt(hdr, pos); err != nil {
			return 0, false, fmt.Errorf("segment %d: read header at %d: %w", s.baseOffset, pos, err)
		}
		if !s.validHeader(hdr, limit-pos) {
			return 0, false, corruptionf("segment %d: header at %d: %v", s.baseOffset, pos, s.checkHeader(hdr, limit-pos))
		}
		if indexed {
			// Paired check: the offset index and the batch it points at
			// must agree, or a read could return the wrong batch.
			if want := s.baseOffset + int64(entry.relOffset); batchBaseOffset(hdr) != want {
				return 0, false, corruptionf("segment %d: offset index maps %d to %d, batch there starts at %d", s.baseOffset, want, pos, batchBaseOffset(hdr))
			}
			indexed = false
		}
		if batchBaseOffset(hdr)+int64(batchLastOffsetDelta(hdr)) >= target {
			return pos, true, nil
		}
		pos += batchSize(hdr)
	}
	return pos, false, nil
}

// scanResult describes what a full scan of a segment found.
type scanResult struct {
	validBytes int64 // bytes of valid batches from the start of the file
	batches    int
	reason     string // why the scan stopped before the end; "" if it did not
}

// scanSegment reads the whole file from position 0, verifying every
// batch's header, CRC and offset order (every frame's header and
// authentication, in an encrypted segment), and rebuilds the in-memory
// indexes from the valid prefix. It calls onBatch for each valid batch
// (recovery rebuilds the leader-epoch cache with it). Only I/O errors and
// ErrKeyUnavailable are returned; invalid data ends the scan and is
// described in the result.
func (s *segment) scanSegment(fileSize int64, interval int, enc *Encryption, onBatch func(base int64, epoch int32)) (scanResult, error) {
	s.resetIndexes()
	r := bufio.NewReaderSize(io.NewSectionReader(s.file, 0, fileSize), 256<<10)
	if m, err := r.Peek(batchMagicAt + 1); err == nil && m[batchMagicAt] == frameMagic {
		return s.scanFrames(r, fileSize, interval, enc, onBatch)
	}
	s.crypt = nil
	var hdr [batchHeaderBytes]byte
	chunk := make([]byte, 64<<10)
	var res scanResult
	pos := int64(0)
	for pos < fileSize {
		avail := fileSize - pos
		if avail < batchHeaderBytes {
			res.reason = fmt.Sprintf("%d trailing bytes, shorter than a batch header", avail)
			break
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return res, fmt.Errorf("segment %d: scan at %d: %w", s.baseOffset, pos, err)
		}
		if err := checkBatchHeader(hdr[:], avail); err != nil {
			res.reason = err.Error()
			break
		}
		base, size := batchBaseOffset(hdr[:]), batchSize(hdr[:])
		last := base + int64(batchLastOffsetDelta(hdr[:]))
		if base < s.nextOffset || !s.fits(last) {
			res.reason = fmt.Sprintf("batch offsets [%d, %d] do not follow %d in segment %d", base, last, s.nextOffset, s.baseOffset)
			break
		}
		crc := crc32.Update(0, castagnoli, hdr[batchAttributesAt:])
		for left := size - batchHeaderBytes; left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := io.ReadFull(r, chunk[:n]); err != nil {
				return res, fmt.Errorf("segment %d: scan at %d: %w", s.baseOffset, pos, err)
			}
			crc = crc32.Update(crc, castagnoli, chunk[:n])
			left -= n
		}
		if want := binary.BigEndian.Uint32(hdr[batchCRCAt:]); crc != want {
			res.reason = fmt.Sprintf("crc %#08x, header says %#08x", crc, want)
			break
		}
		if ts := batchMaxTimestamp(hdr[:]); pos == 0 && ts >= 0 {
			s.rollTimestamp = ts
		}
		s.indexBatch(base, last, pos, size, batchMaxTimestamp(hdr[:]), interval)
		if onBatch != nil {
			onBatch(base, batchLeaderEpoch(hdr[:]))
		}
		res.batches++
		pos += size
	}
	res.validBytes = pos
	return res, nil
}

// scanFrames is scanSegment for an encrypted segment, whose file holds
// frames. Every frame must pass its header checks, be under the data key
// of the segment's first frame, follow the previous one's offsets and
// pass authentication. The first frame's key is asked of enc; a key that
// cannot be had is returned as an error (ErrKeyUnavailable), since the
// data may well be intact. A frame failing authentication ends the
// valid prefix like a CRC failure: the last frame of the file is
// reported as a torn write, any other as corruption.
func (s *segment) scanFrames(r *bufio.Reader, fileSize int64, interval int, enc *Encryption, onBatch func(base int64, epoch int32)) (scanResult, error) {
	// A rescan (after a truncation) keeps the data key it has, so that
	// it needs no key from the provider.
	prev := s.crypt
	s.crypt = nil
	var res scanResult
	frame := make([]byte, batchPeekBytes, 64<<10)
	pos := int64(0)
	for pos < fileSize {
		avail := fileSize - pos
		if avail < frameKeyIDAt+1 {
			res.reason = fmt.Sprintf("%d trailing bytes, shorter than a frame header", avail)
			break
		}
		frame = frame[:batchPeekBytes]
		if _, err := io.ReadFull(r, frame); err != nil {
			return res, fmt.Errorf("segment %d: scan at %d: %w", s.baseOffset, pos, err)
		}
		if err := checkFrameHeader(frame, avail); err != nil {
			res.reason = err.Error()
			break
		}
		size := batchSize(frame)
		if int64(cap(frame)) < size {
			nf := make([]byte, size)
			copy(nf, frame)
			frame = nf
		}
		f := frame[:size]
		if _, err := io.ReadFull(r, f[batchPeekBytes:]); err != nil {
			return res, fmt.Errorf("segment %d: scan at %d: %w", s.baseOffset, pos, err)
		}
		if err := checkFrame(f, s.baseOffset, pos); err != nil {
			res.reason = fmt.Sprintf("frame at %d: %v", pos, err)
			break
		}
		if s.crypt == nil && prev != nil && prev.owns(f) {
			s.crypt = prev
		} else if s.crypt == nil {
			c, err := enc.cipherOf(s.baseOffset, f)
			if err != nil {
				return res, err
			}
			s.crypt = c
		} else if !s.crypt.owns(f) {
			res.reason = fmt.Sprintf("frame at %d is not under the segment's data key (key %q)", pos, s.crypt.keyID)
			break
		}
		base := batchBaseOffset(f)
		last := base + int64(batchLastOffsetDelta(f))
		if base < s.nextOffset || !s.fits(last) {
			res.reason = fmt.Sprintf("frame offsets [%d, %d] do not follow %d in segment %d", base, last, s.nextOffset, s.baseOffset)
			break
		}
		b, err := s.crypt.open(f)
		if err != nil {
			what := "corruption"
			if pos+size == fileSize {
				what = "torn write"
			}
			res.reason = fmt.Sprintf("frame at %d (%s): %v", pos, what, err)
			break
		}
		ts := batchMaxTimestamp(f)
		if pos == 0 && ts >= 0 {
			s.rollTimestamp = ts
		}
		s.indexBatch(base, last, pos, size, ts, interval)
		if onBatch != nil {
			onBatch(base, batchLeaderEpoch(b))
		}
		res.batches++
		pos += size
	}
	if pos == 0 {
		s.crypt = nil
	}
	res.validBytes = pos
	return res, nil
}

// loadCipher sets up the data key of a segment that Open trusts without
// a scan, from the header of its first frame; a segment of plain batches
// gets none. needScan reports a first header that fails its checks: the
// scan then decides what of the file is valid. The error is an I/O error
// or ErrKeyUnavailable.
func (s *segment) loadCipher(fileSize int64, enc *Encryption) (needScan bool, err error) {
	s.crypt = nil
	if fileSize <= batchMagicAt {
		return false, nil
	}
	hdr := make([]byte, min(fileSize, frameHeaderMax))
	if _, err := s.file.ReadAt(hdr, 0); err != nil {
		return false, fmt.Errorf("segment %d: read first header: %w", s.baseOffset, err)
	}
	if hdr[batchMagicAt] != frameMagic {
		return false, nil
	}
	if len(hdr) < batchPeekBytes || checkFrameHeader(hdr, fileSize) != nil || checkFrame(hdr, s.baseOffset, 0) != nil {
		return true, nil
	}
	c, err := enc.cipherOf(s.baseOffset, hdr)
	if err != nil {
		return false, err
	}
	s.crypt = c
	return false, nil
}

// checkHeader is checkBatchHeader or, in an encrypted segment,
// checkFrameHeader.
func (s *segment) checkHeader(b []byte, avail int64) error {
	if s.crypt != nil {
		return checkFrameHeader(b, avail)
	}
	return checkBatchHeader(b, avail)
}

// validHeader is validBatchHeader or, in an encrypted segment,
// validFrameHeader.
func (s *segment) validHeader(b []byte, avail int64) bool {
	if s.crypt != nil {
		return validFrameHeader(b, avail)
	}
	return validBatchHeader(b, avail)
}

// loadIndexes trusts the index files of a cleanly written segment: it
// decodes and checks them, then walks the headers after the last offset
// index entry to find the segment's end. It returns an error if anything
// is missing or inconsistent; the caller then rebuilds by scanning.
func (s *segment) loadIndexes(fileSize int64, interval int) error {
	s.resetIndexes()
	ob, err := os.ReadFile(s.indexPath())
	if err != nil {
		return err
	}
	tb, err := os.ReadFile(s.timeIndexPath())
	if err != nil {
		return err
	}
	oi, err := decodeOffsetIndex(ob, fileSize)
	if err != nil {
		return err
	}
	ti, err := decodeTimeIndex(tb)
	if err != nil {
		return err
	}
	s.offsetIndex, s.timeIndex = oi, ti
	if n := len(ti); n > 0 {
		s.maxTimestamp = ti[n-1].timestamp
		s.offsetOfMaxTimestamp = s.baseOffset + int64(ti[n-1].relOffset)
	}
	var pos int64
	if n := len(oi); n > 0 {
		pos = int64(oi[n-1].position)
		s.nextOffset = s.baseOffset + int64(oi[n-1].relOffset)
	}
	var hdr [batchPeekBytes]byte
	first := true
	for pos < fileSize {
		if _, err := s.file.ReadAt(hdr[:], pos); err != nil {
			return fmt.Errorf("read header at %d: %w", pos, err)
		}
		if err := s.checkHeader(hdr[:], fileSize-pos); err != nil {
			return fmt.Errorf("header at %d: %v", pos, err)
		}
		base, size := batchBaseOffset(hdr[:]), batchSize(hdr[:])
		last := base + int64(batchLastOffsetDelta(hdr[:]))
		if first && len(oi) > 0 && base != s.nextOffset {
			return fmt.Errorf("offset index says %d at %d, batch has %d", s.nextOffset, pos, base)
		}
		if (!first && base < s.nextOffset) || base < s.baseOffset || !s.fits(last) {
			return fmt.Errorf("batch offsets [%d, %d] at %d do not follow %d", base, last, pos, s.nextOffset)
		}
		if ts := batchMaxTimestamp(hdr[:]); ts > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTimestamp = ts, base
		}
		if pos == 0 {
			s.rollTimestamp = s.modTimestamp
			if ts := batchMaxTimestamp(hdr[:]); ts >= 0 {
				s.rollTimestamp = ts
			}
		}
		first = false
		s.bytesSinceIndex += size
		s.nextOffset = last + 1
		pos += size
	}
	if len(oi) > 0 {
		// The first batch's header was not walked; read its timestamp.
		if _, err := s.file.ReadAt(hdr[:], 0); err != nil {
			return fmt.Errorf("read first header: %w", err)
		}
		s.rollTimestamp = s.modTimestamp
		if ts := batchMaxTimestamp(hdr[:]); ts >= 0 {
			s.rollTimestamp = ts
		}
	}
	s.size = fileSize
	return nil
}

// jitter is the deterministic segment.jitter.ms share of this segment.
func (s *segment) jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	// A 64-bit mix of the base offset (splitmix64 finaliser).
	x := uint64(s.baseOffset) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return time.Duration(x % uint64(max))
}
