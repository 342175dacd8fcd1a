package records

import (
	"encoding/binary"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Limits are the topic settings and request facts a Produce partition is
// validated against. Start from DefaultLimits and override.
type Limits struct {
	// MaxMessageBytes is max.message.bytes: the largest batch accepted, as
	// sent (compressed), header included. Zero means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
	// MaxDecompressedBytes caps the decompressed records of one batch,
	// against decompression bombs. Zero means the larger of
	// DefaultMaxDecompressedBytes and 4*MaxMessageBytes.
	MaxDecompressedBytes int
	// TimestampType is message.timestamp.type.
	TimestampType TimestampType
	// TimestampBeforeMaxMs is message.timestamp.before.max.ms (KIP-937):
	// how far a CreateTime timestamp may lie in the past. Kafka's default,
	// math.MaxInt64, means no bound. Milliseconds, as on the wire.
	TimestampBeforeMaxMs int64
	// TimestampAfterMaxMs is message.timestamp.after.max.ms (KIP-937): how
	// far a CreateTime timestamp may lie in the future. Kafka's default is
	// 3600000 (one hour).
	TimestampAfterMaxMs int64
	// RequireKey is set for topics whose cleanup.policy contains compact:
	// every record needs a key.
	RequireKey bool
	// AllowControl accepts control batches. Kafka accepts them only from
	// the coordinators (transaction markers), never from clients.
	AllowControl bool
	// ProduceVersion is the Produce request version; zstd batches are
	// refused below v7. Zero skips that check.
	ProduceVersion int16
	// TopicPartition names the partition ("topic-0") in messages, as Kafka
	// does; empty leaves it out.
	TopicPartition string
	// NowMs is the broker's current time in ms since the epoch.
	NowMs int64
}

// DefaultLimits returns Kafka's defaults for a CreateTime topic without
// compaction, at time nowMs.
func DefaultLimits(nowMs int64) Limits {
	return Limits{
		MaxMessageBytes:      DefaultMaxMessageBytes,
		MaxDecompressedBytes: DefaultMaxDecompressedBytes,
		TimestampType:        CreateTime,
		TimestampBeforeMaxMs: 1<<63 - 1,
		TimestampAfterMaxMs:  3600000,
		NowMs:                nowMs,
	}
}

func (l *Limits) maxMessageBytes() int {
	if l.MaxMessageBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return l.MaxMessageBytes
}

func (l *Limits) maxDecompressedBytes() int {
	if l.MaxDecompressedBytes > 0 {
		return l.MaxDecompressedBytes
	}
	return max(DefaultMaxDecompressedBytes, 4*l.maxMessageBytes())
}

// BatchInfo describes a validated batch.
type BatchInfo struct {
	// Size is the batch's length in bytes (12 + batchLength). Store
	// data[:Size]: bytes after the batch too few to form another batch are
	// dropped, as Kafka drops them.
	Size int
	// Codec is the batch's compression codec.
	Codec Codec
	// NumRecords is the record count.
	NumRecords int32
	// LastOffsetDelta is NumRecords-1.
	LastOffsetDelta int32
	// BaseTimestamp is the batch's baseTimestamp field, in ms.
	BaseTimestamp int64
	// MaxTimestamp is the largest record timestamp, in ms (NoTimestamp if
	// every record has none). For CreateTime topics Kafka writes it into
	// the batch: call SetMaxTimestamp(batch, CreateTime, MaxTimestamp).
	MaxTimestamp int64
	// MaxTimestampOffsetDelta is the offset delta of the first record
	// carrying MaxTimestamp, or -1.
	MaxTimestampOffsetDelta int32
	// ProducerID is the batch's producer ID (NoProducerID if none).
	ProducerID int64
	// ProducerEpoch is the batch's producer epoch.
	ProducerEpoch int16
	// BaseSequence is the batch's base sequence.
	BaseSequence int32
	// Transactional is the batch's transactional bit.
	Transactional bool
	// Control is the batch's control bit.
	Control bool
	// RecordsBytes is the size of the records section after
	// decompression.
	RecordsBytes int
}

// Scratch holds buffers reused across calls: the decompressed records and
// the per-record errors. It is not safe for concurrent use. The zero value
// is ready.
type Scratch struct {
	// MaxDecompressedBytes caps decompression in ForEachRecord; zero means
	// DefaultMaxDecompressedBytes. Validate uses its Limits instead.
	MaxDecompressedBytes int

	buf  []byte
	errs []RecordError
}

// scratchRetainBytesMax is the largest decompression buffer a Scratch keeps
// between calls, so that one large batch does not pin its memory forever.
const scratchRetainBytesMax = 8 << 20

func (s *Scratch) release() {
	if cap(s.buf) > scratchRetainBytesMax {
		s.buf = nil
	}
	clear(s.errs)
	s.errs = s.errs[:0]
}

// records returns the records section of batch, decompressed into the
// scratch buffer when codec is not CodecNone.
func (s *Scratch) records(batch []byte, codec Codec, limit int) ([]byte, *Error) {
	src := batch[recordsOffset:]
	if codec == CodecNone {
		return src, nil
	}
	out, err := Decompress(codec, s.buf, src, limit)
	if cap(out) > cap(s.buf) {
		s.buf = out[:0]
	}
	if err == ErrDecompressedTooLarge {
		return nil, newError(kerr.CorruptMessage, "Decompressed "+codec.String()+
			" record batch exceeds the limit of "+strconv.Itoa(limit)+" bytes")
	}
	if err != nil {
		return nil, newError(kerr.CorruptMessage, "Failed to decompress "+codec.String()+
			" record stream: "+err.Error())
	}
	return out, nil
}

// Validate checks the Records of one Produce partition the way Apache Kafka
// 4 does before appending (ProduceRequest.validateRecords,
// UnifiedLog.analyzeAndValidateRecords and LogValidator), without changing
// data. On success data[:info.Size] is the batch to store; the caller then
// assigns offsets (SetBaseOffset, SetPartitionLeaderEpoch) and timestamps
// (SetLogAppendTime or SetMaxTimestamp). Failures are *Error. scratch may be
// nil.
func Validate(data []byte, lim Limits, scratch *Scratch) (BatchInfo, error) {
	size, err := frame(data, &lim)
	if err != nil {
		return BatchInfo{}, err
	}
	batch := data[:size]
	if err := checkBatch(batch, &lim); err != nil {
		return BatchInfo{}, err
	}
	h := parseHeader(batch)
	if err := checkClientBatch(&h, &lim); err != nil {
		return BatchInfo{}, err
	}
	if scratch == nil {
		scratch = new(Scratch)
	}
	defer scratch.release()
	info := BatchInfo{
		Size:            size,
		Codec:           h.codec(),
		NumRecords:      h.recordCount,
		LastOffsetDelta: h.lastOffsetDelta,
		BaseTimestamp:   h.baseTimestamp,
		ProducerID:      h.producerID,
		ProducerEpoch:   h.producerEpoch,
		BaseSequence:    h.baseSequence,
		Transactional:   h.transactional(),
		Control:         h.control(),
	}
	recs, err := scratch.records(batch, h.codec(), lim.maxDecompressedBytes())
	if err != nil {
		return BatchInfo{}, err
	}
	info.RecordsBytes = len(recs)
	if err := scratch.checkRecords(recs, &h, &lim, &info); err != nil {
		return BatchInfo{}, err
	}
	return info, nil
}

// frame finds the one batch in data, following Kafka's batch iterator
// (ByteBufferLogInputStream) and ProduceRequest.validateRecords: Produce v3+
// carries exactly one magic v2 batch per partition. It returns the batch
// size.
func frame(data []byte, lim *Limits) (int, *Error) {
	size, complete, err := nextBatchSize(data)
	if err != nil {
		return 0, err
	}
	if !complete {
		return 0, newError(kerr.InvalidRecord, "Produce requests must have at least one record batch per partition"+
			" (got "+strconv.Itoa(len(data))+" bytes, not a whole batch)")
	}
	if magic := int8(data[magicOffset]); magic != Magic {
		return 0, newError(kerr.InvalidRecord, "Produce requests are only allowed to contain record batches with magic version 2"+
			" (got "+strconv.Itoa(int(magic))+")")
	}
	codec := Codec(data[attributesOffset+1] & attrCodecMask)
	if codec == CodecZstd && lim.ProduceVersion > 0 && lim.ProduceVersion < 7 {
		return 0, newError(kerr.UnsupportedCompressionType, "Produce requests with version "+
			strconv.Itoa(int(lim.ProduceVersion))+" are not allowed to use ZStandard compression")
	}
	_, more, err := nextBatchSize(data[size:])
	if err != nil {
		return 0, err
	}
	if more {
		return 0, newError(kerr.InvalidRecord, "Produce requests are only allowed to contain exactly one record batch per partition")
	}
	return size, nil
}

// nextBatchSize reports the size of the batch opening b and whether b holds
// all of it. Like Kafka's ByteBufferLogInputStream it fails only on a size
// below the smallest record or a magic above 2; a partial batch is not an
// error here.
func nextBatchSize(b []byte) (int, bool, *Error) {
	if len(b) < logOverheadBytes {
		return 0, false, nil
	}
	length := int32(binary.BigEndian.Uint32(b[batchLengthOffset:]))
	if length < legacyRecordOverheadBytes {
		return 0, false, newError(kerr.CorruptMessage, "Record size "+itoa(int64(length))+
			" is less than the minimum record overhead (14)")
	}
	if len(b) < headerSizeUpToMagicBytes {
		return 0, false, nil
	}
	if magic := int8(b[magicOffset]); magic < 0 || magic > Magic {
		return 0, false, newError(kerr.CorruptMessage, "Invalid magic found in record: "+itoa(int64(magic)))
	}
	size := logOverheadBytes + int(length)
	return size, len(b) >= size, nil
}

// checkBatch applies UnifiedLog.analyzeAndValidateRecords' rules (base
// offset, size, CRC) and the codec check to a framed batch, which holds at
// least logOverheadBytes+legacyRecordOverheadBytes bytes.
func checkBatch(batch []byte, lim *Limits) *Error {
	if baseOffset := int64(binary.BigEndian.Uint64(batch)); baseOffset != 0 {
		return newError(kerr.InvalidRecord, "The baseOffset of the record batch in the append to "+
			lim.TopicPartition+" should be 0, but it is "+itoa(baseOffset))
	}
	if len(batch) > lim.maxMessageBytes() {
		return newError(kerr.MessageTooLarge, "The record batch size in the append to "+lim.TopicPartition+
			" is "+strconv.Itoa(len(batch))+" bytes which exceeds the maximum configured value of "+
			strconv.Itoa(lim.maxMessageBytes())+".")
	}
	if len(batch) < BatchHeaderBytes {
		return newError(kerr.CorruptMessage, "Record batch is corrupt (the size "+strconv.Itoa(len(batch))+
			" is smaller than the minimum allowed overhead 61)"+inPartition(lim.TopicPartition))
	}
	if stored, computed := binary.BigEndian.Uint32(batch[crcOffset:]), BatchCRC(batch); stored != computed {
		return newError(kerr.CorruptMessage, "Record is corrupt (stored crc = "+itoa(int64(stored))+
			", computed crc = "+itoa(int64(computed))+")"+inPartition(lim.TopicPartition)+".")
	}
	if codec := Codec(batch[attributesOffset+1] & attrCodecMask); !codec.Known() {
		return newError(kerr.UnsupportedCompressionType, "Unknown compression type id: "+itoa(int64(codec)))
	}
	return nil
}

// checkClientBatch is LogValidator.validateBatch for AppendOrigin.CLIENT.
func checkClientBatch(h *header, lim *Limits) *Error {
	countFromOffsets := h.lastOffset() - h.baseOffset + 1
	if countFromOffsets <= 0 {
		return newError(kerr.InvalidRecord, "Batch has an invalid offset range: "+offsetRange(h)+inPartition(lim.TopicPartition))
	}
	if h.recordCount <= 0 {
		return newError(kerr.InvalidRecord, "Invalid reported count for record batch: "+itoa(int64(h.recordCount))+inPartition(lim.TopicPartition))
	}
	if countFromOffsets != int64(h.recordCount) {
		return newError(kerr.InvalidRecord, "Inconsistent batch offset range "+offsetRange(h)+" and count of records "+
			itoa(int64(h.recordCount))+inPartition(lim.TopicPartition))
	}
	if h.control() && !lim.AllowControl {
		return newError(kerr.InvalidRecord, "Clients are not allowed to write control records"+inPartition(lim.TopicPartition))
	}
	if h.hasProducerID() && h.baseSequence < 0 {
		return newError(kerr.InvalidRecord, "Invalid sequence number "+itoa(int64(h.baseSequence))+
			" in record batch with producerId "+itoa(h.producerID)+inPartition(lim.TopicPartition))
	}
	return nil
}

func offsetRange(h *header) string {
	return "[" + itoa(h.baseOffset) + ", " + itoa(h.lastOffset()) + "]"
}

// checkRecords walks every record: the structure (any fault fails the whole
// batch at once, as Kafka's record iterator throws), consecutive offset
// deltas, then the per-record rules, whose failures are collected for the
// response as LogValidator collects them.
func (s *Scratch) checkRecords(recs []byte, h *header, lim *Limits, info *BatchInfo) *Error {
	info.MaxTimestamp = NoTimestamp
	info.MaxTimestampOffsetDelta = -1
	it := recordIter{buf: recs, left: h.recordCount}
	failed, anyTimestamp := 0, false
	var r RecordView
	for i := int32(0); it.left > 0; i++ {
		if err := it.next(&r); err != nil {
			return err
		}
		if r.OffsetDelta != i {
			return newError(kerr.InvalidRecord, "Record at batch index "+itoa(int64(i))+" has offset delta "+
				itoa(int64(r.OffsetDelta))+"; the offset deltas of a batch must run 0, 1, 2, ..."+inPartition(lim.TopicPartition))
		}
		ts := h.recordTimestamp(&r)
		if ts > info.MaxTimestamp {
			info.MaxTimestamp, info.MaxTimestampOffsetDelta = ts, i
		}
		isTimestamp, bad := checkRecord(h, &r, ts, lim)
		if !bad {
			continue
		}
		failed++
		anyTimestamp = anyTimestamp || isTimestamp
		if len(s.errs) < RecordErrorsMax {
			s.errs = append(s.errs, RecordError{BatchIndex: i, Message: recordMessage(h, &r, ts, lim, isTimestamp)})
		}
	}
	if failed > 0 {
		return recordValidationError(s.errs, failed, anyTimestamp)
	}
	return nil
}

// checkRecord is LogValidator.validateRecord's verdict, without building a
// message: whether record r fails, and whether as INVALID_TIMESTAMP.
func checkRecord(h *header, r *RecordView, ts int64, lim *Limits) (isTimestamp, bad bool) {
	if lim.RequireKey && r.Key == nil {
		return false, true
	}
	if lim.TimestampType == CreateTime && ts != NoTimestamp {
		diff := lim.NowMs - ts
		if diff > lim.TimestampBeforeMaxMs || -diff > lim.TimestampAfterMaxMs {
			return true, true
		}
		return false, false
	}
	if h.logAppendTime() {
		return true, true
	}
	return false, false
}

// recordMessage words a per-record failure as Kafka does.
func recordMessage(h *header, r *RecordView, ts int64, lim *Limits, isTimestamp bool) string {
	if !isTimestamp {
		return "Compacted topic cannot accept message without key" + inPartition(lim.TopicPartition)
	}
	offset := h.baseOffset + int64(r.OffsetDelta)
	if lim.TimestampType == CreateTime && ts != NoTimestamp {
		return "Timestamp " + itoa(ts) + " of message with offset " + itoa(offset) +
			" is out of range. The timestamp should be within [" + itoa(lim.NowMs-lim.TimestampBeforeMaxMs) +
			", " + itoa(lim.NowMs+lim.TimestampAfterMaxMs) + "]"
	}
	return "Invalid timestamp type in message DefaultRecord(offset=" + itoa(offset) + ", timestamp=" + itoa(ts) +
		", key=" + strconv.Itoa(len(r.Key)) + " bytes, value=" + strconv.Itoa(len(r.Value)) +
		" bytes). Producer should not set timestamp type to LogAppendTime."
}
