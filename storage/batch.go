package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Field positions of the v2 record batch header (see doc.go).
const (
	batchBaseOffsetAt      = 0
	batchLengthAt          = 8
	batchLeaderEpochAt     = 12
	batchMagicAt           = 16
	batchCRCAt             = 17
	batchAttributesAt      = 21
	batchLastOffsetDeltaAt = 23
	batchBaseTimestampAt   = 27
	batchMaxTimestampAt    = 35

	// batchHeaderBytes is the size of the fixed v2 header; records follow.
	batchHeaderBytes = 61
	// batchLengthFieldEnd is the size of the baseOffset and batchLength
	// fields, which batchLength does not count.
	batchLengthFieldEnd = 12
	// batchLengthMin is the smallest legal batchLength (a batch with an
	// empty records section).
	batchLengthMin = batchHeaderBytes - batchLengthFieldEnd
	// batchMagic is the only record batch format storage accepts.
	batchMagic = 2
	// batchPeekBytes covers every header field storage reads while walking
	// a segment (up to and including maxTimestamp).
	batchPeekBytes = batchMaxTimestampAt + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchBaseOffset and the functions below read v2 header fields. The
// caller guarantees len(b) >= the end of the field.
func batchBaseOffset(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[batchBaseOffsetAt:])) }

// batchSize is the whole batch's size in bytes, header included.
func batchSize(b []byte) int64 {
	return batchLengthFieldEnd + int64(int32(binary.BigEndian.Uint32(b[batchLengthAt:])))
}

func batchLeaderEpoch(b []byte) int32 { return int32(binary.BigEndian.Uint32(b[batchLeaderEpochAt:])) }

func batchLastOffsetDelta(b []byte) int32 {
	return int32(binary.BigEndian.Uint32(b[batchLastOffsetDeltaAt:]))
}

func batchMaxTimestamp(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b[batchMaxTimestampAt:]))
}

func setBatchBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[batchBaseOffsetAt:], uint64(off))
}

// checkBatchHeader validates the header fields storage depends on, given
// at least batchPeekBytes of the batch and the number of bytes available
// from its start. It does not check the CRC.
func checkBatchHeader(b []byte, avail int64) error {
	if avail < batchHeaderBytes {
		return fmt.Errorf("%d bytes left, a header needs %d", avail, batchHeaderBytes)
	}
	length := int32(binary.BigEndian.Uint32(b[batchLengthAt:]))
	if length < batchLengthMin {
		return fmt.Errorf("batchLength %d below minimum %d", length, batchLengthMin)
	}
	if size := batchLengthFieldEnd + int64(length); size > avail {
		return fmt.Errorf("batch of %d bytes but only %d left", size, avail)
	}
	if m := b[batchMagicAt]; m != batchMagic {
		return fmt.Errorf("magic %d, want %d", m, batchMagic)
	}
	if d := batchLastOffsetDelta(b); d < 0 {
		return fmt.Errorf("negative lastOffsetDelta %d", d)
	}
	if base := batchBaseOffset(b); base < 0 || base > math.MaxInt64-math.MaxInt32 {
		return fmt.Errorf("baseOffset %d out of range", base)
	}
	return nil
}

// validBatchHeader is checkBatchHeader without the error value, for the
// read path, which must not allocate.
func validBatchHeader(b []byte, avail int64) bool {
	if avail < batchHeaderBytes {
		return false
	}
	length := int32(binary.BigEndian.Uint32(b[batchLengthAt:]))
	base := batchBaseOffset(b)
	return length >= batchLengthMin && batchLengthFieldEnd+int64(length) <= avail &&
		b[batchMagicAt] == batchMagic && batchLastOffsetDelta(b) >= 0 &&
		base >= 0 && base <= math.MaxInt64-math.MaxInt32
}

// checkBatchCRC verifies the CRC32C of one whole batch.
func checkBatchCRC(b []byte) error {
	want := binary.BigEndian.Uint32(b[batchCRCAt:])
	if got := crc32.Checksum(b[batchAttributesAt:], castagnoli); got != want {
		return fmt.Errorf("crc %#08x, header says %#08x", got, want)
	}
	return nil
}

// batchInfo summarises one batch of an append.
type batchInfo struct {
	baseOffset   int64
	lastOffset   int64
	position     int64 // within the append buffer
	size         int64
	maxTimestamp int64
	leaderEpoch  int32
}

// parseBatches validates buf as complete v2 batches (header and CRC) and
// appends one batchInfo per batch to infos. With assignFrom >= 0 it
// rewrites each base offset, starting at assignFrom; otherwise the offsets
// in buf are kept and must increase strictly (no batch may start at or
// before the previous batch's last offset) and not start below minBase.
func parseBatches(buf []byte, assignFrom, minBase int64, infos []batchInfo) ([]batchInfo, error) {
	if len(buf) == 0 {
		return infos, fmt.Errorf("%w: empty append", ErrInvalidBatch)
	}
	if len(buf) > math.MaxInt32 {
		return infos, fmt.Errorf("%w: append of %d bytes exceeds %d", ErrInvalidBatch, len(buf), math.MaxInt32)
	}
	next := assignFrom
	for pos := int64(0); pos < int64(len(buf)); {
		b := buf[pos:]
		if err := checkBatchHeader(b, int64(len(b))); err != nil {
			return infos, fmt.Errorf("%w: at byte %d: %v", ErrInvalidBatch, pos, err)
		}
		size := batchSize(b)
		if err := checkBatchCRC(b[:size]); err != nil {
			return infos, fmt.Errorf("%w: at byte %d: %v", ErrInvalidBatch, pos, err)
		}
		if assignFrom >= 0 {
			setBatchBaseOffset(b, next)
		} else if base := batchBaseOffset(b); base < minBase {
			return infos, fmt.Errorf("%w: batch base offset %d below %d", ErrNonMonotonicOffset, base, minBase)
		}
		info := batchInfo{
			baseOffset:   batchBaseOffset(b),
			position:     pos,
			size:         size,
			maxTimestamp: batchMaxTimestamp(b),
			leaderEpoch:  batchLeaderEpoch(b),
		}
		info.lastOffset = info.baseOffset + int64(batchLastOffsetDelta(b))
		infos = append(infos, info)
		next = info.lastOffset + 1
		minBase = next
		pos += size
	}
	return infos, nil
}
