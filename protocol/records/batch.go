package records

import (
	"encoding/binary"
	"hash/crc32"
)

// Byte offsets of the record batch v2 header fields (all big endian).
const (
	baseOffsetOffset           = 0
	batchLengthOffset          = 8
	partitionLeaderEpochOffset = 12
	magicOffset                = 16
	crcOffset                  = 17
	attributesOffset           = 21
	lastOffsetDeltaOffset      = 23
	baseTimestampOffset        = 27
	maxTimestampOffset         = 35
	producerIDOffset           = 43
	producerEpochOffset        = 51
	baseSequenceOffset         = 53
	recordCountOffset          = 57
	recordsOffset              = 61

	// logOverheadBytes is baseOffset plus batchLength: the bytes of a batch
	// not counted by batchLength.
	logOverheadBytes = 12
	// headerSizeUpToMagicBytes is what must be present to read the magic.
	headerSizeUpToMagicBytes = 17
	// legacyRecordOverheadBytes is Kafka's LegacyRecord.RECORD_OVERHEAD_V0,
	// the smallest batchLength its batch iterator accepts.
	legacyRecordOverheadBytes = 14
	// BatchHeaderBytes is the size of a v2 batch header; the records follow.
	BatchHeaderBytes = recordsOffset

	// Magic is the only record batch format version Kafka 4 accepts from
	// producers.
	Magic = 2
)

// Attribute bits of a v2 batch.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// DefaultMaxMessageBytes is the Kafka default of max.message.bytes.
const DefaultMaxMessageBytes = 1048588

// DefaultMaxDecompressedBytes is the decompressed-size cap used when none is
// configured.
const DefaultMaxDecompressedBytes = 64 << 20

// NoTimestamp is Kafka's RecordBatch.NO_TIMESTAMP.
const NoTimestamp = -1

// NoProducerID is Kafka's RecordBatch.NO_PRODUCER_ID.
const NoProducerID = -1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchCRC computes the CRC32C of a v2 batch: over every byte from the
// attributes to the end. batch must hold at least BatchHeaderBytes.
func BatchCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[attributesOffset:], castagnoli)
}

// TimestampType is message.timestamp.type: which clock the record timestamps
// of a topic come from.
type TimestampType int8

const (
	// CreateTime keeps the producer's timestamps (Kafka default).
	CreateTime TimestampType = 0
	// LogAppendTime stamps each batch with the broker's time on append.
	LogAppendTime TimestampType = 1
)

// String returns the Kafka config value.
func (t TimestampType) String() string {
	if t == LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// SetBaseOffset writes the batch's base offset. The field is outside the CRC,
// so the CRC stays valid. batch must hold a full v2 header.
func SetBaseOffset(batch []byte, baseOffset int64) {
	binary.BigEndian.PutUint64(batch[baseOffsetOffset:], uint64(baseOffset))
}

// SetPartitionLeaderEpoch writes the batch's partition leader epoch. The
// field is outside the CRC. batch must hold a full v2 header.
func SetPartitionLeaderEpoch(batch []byte, leaderEpoch int32) {
	binary.BigEndian.PutUint32(batch[partitionLeaderEpochOffset:], uint32(leaderEpoch))
}

// SetMaxTimestamp sets the timestamp type bit and the maxTimestamp field and
// recomputes the CRC, as Kafka's DefaultRecordBatch.setMaxTimestamp does when
// the leader appends a batch. Like Kafka it leaves the batch untouched when
// both already hold, and it never rewrites the records. It reports whether
// the batch changed. batch must be one whole v2 batch.
func SetMaxTimestamp(batch []byte, typ TimestampType, maxTimestamp int64) bool {
	attrs := binary.BigEndian.Uint16(batch[attributesOffset:])
	cur := int64(binary.BigEndian.Uint64(batch[maxTimestampOffset:]))
	isLAT := attrs&attrLogAppendTime != 0
	if isLAT == (typ == LogAppendTime) && cur == maxTimestamp {
		return false
	}
	if typ == LogAppendTime {
		attrs |= attrLogAppendTime
	} else {
		attrs &^= attrLogAppendTime
	}
	binary.BigEndian.PutUint16(batch[attributesOffset:], attrs)
	binary.BigEndian.PutUint64(batch[maxTimestampOffset:], uint64(maxTimestamp))
	binary.BigEndian.PutUint32(batch[crcOffset:], BatchCRC(batch))
	return true
}

// SetLogAppendTime marks a batch as LogAppendTime stamped at ts (ms) and
// recomputes its CRC in place. This is what the leader does for topics with
// message.timestamp.type=LogAppendTime: readers then take every record's
// timestamp from the batch's maxTimestamp.
func SetLogAppendTime(batch []byte, ts int64) {
	SetMaxTimestamp(batch, LogAppendTime, ts)
}
